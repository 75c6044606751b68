"""Every benchmark in its seconds-long smoke size (so none rots), every GPU-size configuration resolved by
--dry-run, and the results table rendered only from JSON files."""
import json
import importlib
from pathlib import Path

import pytest

from benchmarks import common

EXPERIMENTS = list(common.EXPERIMENTS)
SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
NEEDS = {"r3gan_stacked_mnist": SHARED / "mnist.npz", "reacgan_vs_acgan": SHARED / "cifar10_jpeg_bytes.npz",
         "biggan_cifar10": SHARED / "cifar10_jpeg_bytes.npz", "digits_conditioning": None}


@pytest.mark.parametrize("name", EXPERIMENTS)
@pytest.mark.parametrize("scale", ["cpu", "gpu"])
def test_dry_run_resolves_every_arm(name, scale, capsys):
    exp = importlib.import_module(f"benchmarks.{name}")
    assert common.run(exp, ["--scale", scale, "--dry-run"]) is None
    out = capsys.readouterr().out
    for arm in exp.ARMS:
        assert f"## arm {arm.name}" in out
    budgets = [json.loads(line.removeprefix("budget: ")) for line in out.splitlines() if line.startswith("budget: ")]
    assert len(budgets) == len(exp.ARMS) and all(b == budgets[0] for b in budgets)  # one budget for all arms


def test_an_arm_may_not_change_the_shared_budget():
    exp = importlib.import_module("benchmarks.r3gan_stacked_mnist")
    ctx = common.make_context(exp, common.parse_args(exp, ["--dry-run"]))
    with pytest.raises(ValueError, match="train.steps"):
        common.arm_config(ctx, common.Arm("cheat", {"train.steps": 10**6}))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_smoke_run_writes_json_figure_and_table_outside_the_repo(name):
    if NEEDS[name] is not None and not NEEDS[name].is_file():
        pytest.skip(f"{NEEDS[name]} absent: the benchmarks' data lives in ../shared/data beside the checkout")
    exp = importlib.import_module(f"benchmarks.{name}")
    before = sorted(common.RESULTS.glob("*.json")) if common.RESULTS.is_dir() else []
    result = common.run(exp, ["--smoke"])
    assert result["smoke"] and set(result["arms"]) == {a.name for a in exp.ARMS}
    out = Path(result["figures"][0]).parent.parent
    assert not out.is_relative_to(common.ROOT)                        # a temporary folder, never the repo
    assert (sorted(common.RESULTS.glob("*.json")) if common.RESULTS.is_dir() else []) == before
    assert json.loads((out / common.result_name(name, "cpu", 0)).read_text())["smoke"] is True
    assert Path(result["figures"][0]).is_file()
    table = (out / "table.md").read_text()
    for arm in result["arms"].values():
        assert arm["train"]["steps_done"] == 4 and arm["speed"]["gflop_per_step"] > 0
        assert arm["metrics"].get("curve", True)                        # several checkpoints evaluated
        if name == "digits_conditioning":                               # a share of samples, and a real check
            assert 0.0 <= arm["metrics"]["accuracy"] <= 1.0 and arm["metrics"]["held_out"] > 0.9
    assert "cpu smoke, 0" in table


def test_table_in_readme_is_exactly_the_rendering_of_the_json_files():
    text = common.TABLE.read_text()
    for name in EXPERIMENTS:
        exp = importlib.import_module(f"benchmarks.{name}")
        block = text.split(f"<!-- results:{name} -->\n", 1)[1].split(f"<!-- /results:{name} -->", 1)[0]
        assert block == common.render_section(exp, common.load_results(name))


def test_sizing_table_is_exactly_the_rendering_of_the_json_files():
    block = common.TABLE.read_text().split("<!-- results:sizing -->\n", 1)[1].split("<!-- /results:sizing -->", 1)[0]
    assert block == common.render_sizing() and "`biggan_cifar10`" in block


def _fake_result(seed, modes, scale="cpu"):
    arms = {name: {"metrics": {"modes": modes + i, "reverse_kl": 1.0}, "train": {"diverged": None,
                   "steps_per_sec": 1.0, "wall_seconds": 60.0, "sec_per_step": 0.3}, "speed": {"gflop_per_sec": 1.0},
                   "paper": "", "curves": {}} for i, name in enumerate(["a", "b"])}
    return {"scale": scale, "seed": seed, "smoke": False, "arms": arms, "budget": {"steps": 10, "batch_size": 2,
            "kimg": 0.0, "d_steps": 1}, "environment": {"device": "cpu", "date": "d", "git_commit": "0" * 40}}


def test_spread_over_seeds_is_the_range_of_each_figure():
    exp = importlib.import_module("benchmarks.r3gan_stacked_mnist")
    text = common.render_section(exp, [_fake_result(0, 600), _fake_result(1, 650), _fake_result(2, 630),
                                       _fake_result(0, 999, scale="gpu")])
    assert "seeds 0, 1, 2" in text and "| a | modes | 600 | 650 | 630 | 50 |" in text
    assert "| b | reverse KL | 1 | 1 | 1 | 0 |" in text and "gpu scale" not in text  # one gpu seed: no spread
    assert "cpu seed 1: run on cpu" in text


def test_readme_digest_is_exactly_the_rendering_of_the_json_files():
    block = common.README.read_text().split("<!-- results:summary -->\n", 1)[1].split("<!-- /results:summary -->", 1)[0]
    assert block == common.render_summary()
    for name in EXPERIMENTS:  # a headline must name one of the experiment's columns
        exp = importlib.import_module(f"benchmarks.{name}")
        assert set(exp.HEADLINE) <= {title for title, _ in exp.COLUMNS}, name
        assert f"`{name}`" in block


def test_no_results_renders_not_yet_run():
    exp = importlib.import_module("benchmarks.r3gan_stacked_mnist")
    text = common.render_section(exp, [])
    assert text.count("not yet run") == len(exp.ARMS) and "1000 / 0.078" in text

