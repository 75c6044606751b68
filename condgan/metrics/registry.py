"""The one place metrics are declared: `condgan evaluate --metrics`, `train.eval_metrics`, `train.best_metric`,
the in-training evaluator and the figures look each metric up here for how to compute it, the JSON keys it
writes, which way each key is better, and what it needs.

Adding a metric is its formula in its own file (a pure function of arrays) plus one entry in `METRICS` below,
whose `compute(real, fake, opts)` turns two `Features` into `{key: value}`; from outside the package,
`register_metric(...)` before `load_config` or `condgan evaluate`. Nothing else in condgan names metrics.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import UsageError

if TYPE_CHECKING:
    from .evaluate import Features

LOWER, HIGHER = "lower", "higher"

# What a metric may need beyond pooled features, and what the user is told when it is missing.
NEEDS = {
    "logits": "classifier logits, which this feature network does not give (the fid-helper TorchScript file "
              "gives features only)",
    "labels": "class labels for both the real and the generated images",
    "images": "the generated images themselves (pixels)",
    "conditional": "a class-conditional model (this run is unconditional: data.conditional=false)",
}


@dataclass(frozen=True)
class Options:
    """Settings a metric's computation may read (the command line's or the config's)."""
    fid_mode: str = "torch-fidelity"


@dataclass(frozen=True)
class Metric:
    compute: Callable[["Features", "Features", Options], dict[str, Any]]
    keys: dict[str, str | None]          # JSON key -> LOWER or HIGHER is better, None: not a score (spread, size)
    needs: frozenset[str] = field(default_factory=frozenset)   # of NEEDS
    headline: str | None = None          # the key `train.best_metric=NAME` means (None: name one of the keys)

    def scores(self) -> list[str]:
        return [k for k, better in self.keys.items() if better is not None]


def _fid(real: Features, fake: Features, o: Options) -> dict[str, Any]:
    from .fid import fid_from_features
    return {"fid": fid_from_features(real.pool, fake.pool, mode=o.fid_mode)}


def _is(real: Features, fake: Features, o: Options) -> dict[str, Any]:
    from .inception_score import inception_score
    mean, std = inception_score(fake.logits)
    return {"is_mean": mean, "is_std": std}


def _kid(real: Features, fake: Features, o: Options) -> dict[str, Any]:
    from .kid import kid_from_features
    size = min(1000, len(real.pool), len(fake.pool))
    mean, std = kid_from_features(real.pool, fake.pool, subset_size=size)
    return {"kid_mean": mean, "kid_std": std}


def _prdc(real: Features, fake: Features, o: Options) -> dict[str, Any]:
    from .prdc import prdc
    return prdc(real.pool, fake.pool)


def _intra_fid(real: Features, fake: Features, o: Options) -> dict[str, Any]:
    from .intra_fid import intra_class_fid
    r = intra_class_fid(real.pool, real.labels, fake.pool, fake.labels, mode=o.fid_mode)
    return {"intra_fid_mean": r["mean"], "intra_fid": {str(k): v for k, v in r["per_class"].items()}}


def _accuracy(real: Features, fake: Features, o: Options) -> dict[str, Any]:
    from .accuracy import accuracy
    top1, top5 = accuracy(fake.logits, fake.labels)
    return {"accuracy_top1": top1, "accuracy_top5": top5}


def _msssim(real: Features, fake: Features, o: Options) -> dict[str, Any]:
    import torch

    from .msssim import class_msssim
    images = torch.from_numpy(fake.images).permute(0, 3, 1, 2)
    side = min(images.shape[-2:])
    win = 11 if side >= 11 else (side // 2) * 2 - 1  # tiny images: the largest odd window that fits
    return {"msssim_mean": class_msssim(images, fake.labels, win_size=win)["mean"], "msssim_window": win}


METRICS: dict[str, Metric] = {
    "fid": Metric(_fid, {"fid": LOWER}, headline="fid"),
    "is": Metric(_is, {"is_mean": HIGHER, "is_std": None}, frozenset({"logits"}), headline="is_mean"),
    "kid": Metric(_kid, {"kid_mean": LOWER, "kid_std": None}, headline="kid_mean"),
    "prdc": Metric(_prdc, {"precision": HIGHER, "recall": HIGHER, "density": HIGHER, "coverage": HIGHER}),
    # per class (a dict); an unconditional run has one class, and its intra-class FID is its FID
    "intra_fid": Metric(_intra_fid, {"intra_fid_mean": LOWER, "intra_fid": None}, frozenset({"labels"}),
                        headline="intra_fid_mean"),
    # is the sample classified as the class it was generated for: no such class without conditioning
    "accuracy": Metric(_accuracy, {"accuracy_top1": HIGHER, "accuracy_top5": HIGHER},
                       frozenset({"logits", "labels", "conditional"}), headline="accuracy_top1"),
    # ACGAN's per-class MS-SSIM between samples: lower is more diverse within a class
    "msssim": Metric(_msssim, {"msssim_mean": LOWER, "msssim_window": None}, frozenset({"images", "labels"}),
                     headline="msssim_mean"),
}


def register_metric(name: str, compute: Callable, keys: dict[str, str | None], *,
                    needs: Iterable[str] = (), headline: str | None = None) -> None:
    """Make `name` available to `--metrics` and `train.eval_metrics`; `keys` maps each JSON key `compute`
    returns to "lower" / "higher" (is better) or None; `headline` is what `train.best_metric=name` means
    (default: the only score key, if there is one)."""
    bad = set(needs) - set(NEEDS) or {v for v in keys.values() if v not in (LOWER, HIGHER, None)}
    if bad:
        raise ValueError(f"register_metric('{name}'): unknown {sorted(map(str, bad))}; needs are "
                         f"{', '.join(NEEDS)}, directions '{LOWER}', '{HIGHER}' or None.")
    scores = [k for k, v in keys.items() if v is not None]
    METRICS[name] = Metric(compute, dict(keys), frozenset(needs),
                           headline if headline is not None else (scores[0] if len(scores) == 1 else None))


def parse(names: str | Iterable[str], option: str = "--metrics") -> list[str]:
    """'fid,kid' (or a list) -> ['fid', 'kid'], every name checked against the registry."""
    names = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise UsageError(f"{option}: unknown metric {', '.join(map(repr, unknown))}; available: "
                         f"{', '.join(METRICS)}.")
    return names


def needs_any(names: Iterable[str], need: str) -> bool:
    """Whether any of the named metrics needs `need` (e.g. 'images': keep the pixels while extracting)."""
    return any(need in METRICS[n].needs for n in names)


def check_needs(name: str, have: Iterable[str]) -> None:
    """A clear error when the metric needs something (a NEEDS key) that is not in `have`."""
    missing = sorted(METRICS[name].needs - set(have))
    if missing:
        raise UsageError(f"Metric '{name}' needs {'; and '.join(NEEDS[m] for m in missing)}.")


def score_key(name: str) -> str:
    """The logged key that `train.best_metric=name` means: a metric's headline key ('kid' -> 'kid_mean'), or one
    of a metric's score keys as it is ('recall'). Raises UsageError naming the valid choices."""
    if name in METRICS and METRICS[name].headline:
        return METRICS[name].headline
    if direction(name) is not None:
        return name
    if name in METRICS:
        raise UsageError(f"metric '{name}' has several scores; name one: {', '.join(METRICS[name].scores())}.")
    valid = [n for n, m in METRICS.items() if m.headline] + [k for m in METRICS.values() for k in m.scores()]
    raise UsageError(f"unknown metric '{name}'; valid: {', '.join(dict.fromkeys(valid))}.")


def metric_of(key: str) -> str | None:
    """The metric that writes `key` (e.g. 'kid_mean' -> 'kid'), or None."""
    return next((n for n, m in METRICS.items() if key in m.keys), None)


def direction(key: str) -> str | None:
    """LOWER or HIGHER for a score key (an optional 'metric/' prefix is dropped; a metric's name stands for its
    headline key), None for anything else (a spread, a sample count, a key no metric declares)."""
    key = key.removeprefix("metric/")
    if key in METRICS and METRICS[key].headline:
        key = METRICS[key].headline
    name = metric_of(key)
    return METRICS[name].keys[key] if name else None


def lower_is_better(key: str) -> bool:
    return direction(key) == LOWER


def config_problem(eval_metrics: str, best_metric: str, conditional: bool, evaluating: bool
                   ) -> tuple[str, str] | None:
    """(config key, what is wrong) for `train.eval_metrics` / `train.best_metric`, or None: read when the
    config is loaded, so that a typo fails then and not at the first evaluation hours into a run."""
    try:
        names = parse(eval_metrics, "train.eval_metrics")
    except UsageError as e:
        return "train.eval_metrics", str(e).removeprefix("train.eval_metrics: ")
    if not conditional:
        bad = [n for n in names if "conditional" in METRICS[n].needs]
        if bad:
            return "train.eval_metrics", f"{', '.join(bad)} needs {NEEDS['conditional']}."
    try:
        key = score_key(best_metric)
    except UsageError as e:
        return "train.best_metric", str(e)
    if evaluating and metric_of(key) not in names:
        choices = [c for n in names for c in dict.fromkeys([n if METRICS[n].headline else None,
                                                            *METRICS[n].scores()]) if c]
        return "train.best_metric", (f"'{key}' is not among what train.eval_metrics computes ({', '.join(names)}), "
                                     f"so best.pt would never be written; choose one of {', '.join(choices)}.")
    return None
