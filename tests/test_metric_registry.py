"""The metric registry is the one place a metric is declared: its JSON keys, which way each is better and what it
needs. `train.best_metric`, the figures, `--metrics` and config validation all read it."""
import json

import numpy as np
import pytest

import condgan
from condgan import plots
from condgan.cli import main
from condgan.config import ConfigError, load_config
from condgan.metrics import registry
from condgan.metrics.evaluate import Features, compute_metrics
from condgan.metrics.evaluator import DomainClassifier, save_evaluator
from condgan.training.evaluation import TrainingEvaluator


def test_best_metric_names_a_metric_and_best_pt_is_written(tmp_path, tiny_overrides, monkeypatch):
    """`train.best_metric=kid` means the logged `metric/kid_mean` (it used to match nothing: no best.pt)."""
    from condgan.training import load_checkpoint
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "cache"))
    save_evaluator(DomainClassifier(1, 10, 16, width=4), tmp_path / "ev.pt", [str(i) for i in range(10)], 0.1, "r")
    cfg = load_config("digits", {**tiny_overrides, "train.eval_every": 2, "train.eval_samples": 40,
                                 "train.eval_metrics": "kid", "train.best_metric": "kid",
                                 "train.evaluator": str(tmp_path / "ev.pt")})
    run = tmp_path / "run"
    condgan.train(cfg, run, progress=False)
    evals = [r for r in map(json.loads, (run / "stats.jsonl").read_text().splitlines()) if "metric/kid_mean" in r]
    assert [r["step"] for r in evals] == [2, 4]
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    assert best["best"] == {"metric": "kid_mean", "value": min(r["metric/kid_mean"] for r in evals)}
    assert best["step"] == min(evals, key=lambda r: r["metric/kid_mean"])["step"]


def _training_prefers_lower(key: str) -> bool:
    """Which of two values the in-training evaluator keeps as best (without building its feature network)."""
    ev = TrainingEvaluator.__new__(TrainingEvaluator)
    ev.best_key, ev.best = registry.score_key(key), None
    assert ev.is_best({f"metric/{ev.best_key}": 1.0})
    return ev.is_best({f"metric/{ev.best_key}": 0.5})


@pytest.mark.parametrize("key", [k for m in registry.METRICS.values() for k in m.scores()])
def test_figures_and_training_agree_on_which_way_is_better(key):
    assert plots.lower_is_better(f"metric/{key}") == _training_prefers_lower(key)


def test_lower_is_better_for_the_distances_higher_for_the_rest():
    lower = {k for m in registry.METRICS.values() for k in m.scores() if registry.lower_is_better(k)}
    assert lower == {"fid", "kid_mean", "intra_fid_mean", "msssim_mean"}
    # the figures' old list named "kid" and "intra_fid": the logged kid_mean / intra_fid_mean were "higher"
    assert plots.lower_is_better("metric/kid_mean") and plots.lower_is_better("metric/intra_fid_mean")
    rows = [{"step": s, "metric/kid_mean": v, "metric/kid_std": 0.1, "metric/num_fake": 40}
            for s, v in ((1, 0.5), (2, 0.2), (3, 0.3))]
    assert plots.metric_keys(rows) == ["metric/kid_mean"]   # a spread or a sample count is not a score
    from condgan.report import metric_summary
    assert metric_summary(rows) == [["kid_mean", 0.3, 3, 0.2, 2]]


@pytest.mark.parametrize("overrides, key, shown", [
    ({"train.eval_metrics": "fid,kidd"}, "train.eval_metrics", "'kidd'; available: fid, is, kid"),
    ({"train.best_metric": "kidd"}, "train.best_metric", "'kidd'; valid: fid, is, kid"),
    ({"train.best_metric": "prdc"}, "train.best_metric", "name one: precision, recall"),
    ({"train.eval_every": 10, "train.eval_metrics": "kid"}, "train.best_metric", "choose one of kid, kid_mean"),
    ({"data.conditional": False, "train.eval_metrics": "accuracy"}, "train.eval_metrics", "class-conditional"),
])
def test_metric_typos_fail_when_the_config_is_loaded(overrides, key, shown):
    with pytest.raises(ConfigError) as e:
        load_config("digits", overrides)
    assert key in str(e.value) and shown in str(e.value)


def test_valid_metric_settings_load():
    cfg = load_config("digits", {"train.eval_every": 10, "train.eval_metrics": "fid,prdc", "train.best_metric": "recall"})
    assert cfg.train.best_metric == "recall"


def test_a_metric_added_from_outside_is_one_function_and_one_entry(monkeypatch, capsys):
    def mean_gap(real, fake, opts):   # the metric's own function ...
        return {"mean_gap": float(abs(real.pool.mean() - fake.pool.mean()))}
    monkeypatch.setattr(registry, "METRICS", dict(registry.METRICS))   # (undone after the test)
    registry.register_metric("gap", mean_gap, {"mean_gap": "lower"})     # ... and its entry
    rng = np.random.default_rng(0)
    real, fake = (Features(rng.normal(size=(50, 4)) + s, None, None) for s in (0.0, 1.0))
    assert compute_metrics(real, fake, ["fid", "gap"])["mean_gap"] > 0.5
    assert load_config("digits", {"train.eval_every": 5, "train.eval_metrics": "gap", "train.best_metric": "gap"})
    assert plots.lower_is_better("metric/mean_gap") and registry.score_key("gap") == "mean_gap"
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "msssim, gap" in " ".join(capsys.readouterr().out.split())   # --metrics' help lists the registry


def test_what_a_metric_needs_is_checked_before_computing():
    rng = np.random.default_rng(0)
    real, fake = (Features(rng.normal(size=(30, 4)), None, None) for _ in range(2))
    with pytest.raises(condgan.CondganError, match="'is' needs classifier logits"):
        compute_metrics(real, fake, ["fid", "is"])
    with pytest.raises(condgan.CondganError, match="'intra_fid' needs class labels"):
        compute_metrics(real, fake, ["intra_fid"])
    labelled = Features(fake.pool, np.zeros((30, 3)), np.zeros(30, dtype=np.int64))
    with pytest.raises(condgan.CondganError, match="'accuracy' needs a class-conditional model"):
        compute_metrics(Features(real.pool, None, np.zeros(30, dtype=np.int64)), labelled, ["accuracy"],
                        conditional=False)
    with pytest.raises(condgan.CondganError, match="unknown metric 'fdi'; available: fid"):
        compute_metrics(real, fake, ["fdi"])


def test_a_hook_writing_an_undeclared_key_is_caught(monkeypatch):
    monkeypatch.setattr(registry, "METRICS", dict(registry.METRICS))
    registry.register_metric("sloppy", lambda r, f, o: {"declared": 1.0, "other": 2.0}, {"declared": "higher"})
    real = Features(np.zeros((4, 2)), None, None)
    with pytest.raises(RuntimeError, match="other"):
        compute_metrics(real, real, ["sloppy"])
