"""`--reproduce STEPS`: a committed benchmark result must be reproduced by the code that is committed with it,
and a changed curve or configuration must be reported as such."""
import importlib
import math
import subprocess
import sys
from pathlib import Path

from benchmarks import common
from benchmarks.reproduce import compare, config_drift

ROOT = Path(__file__).resolve().parent.parent


def test_compare_reports_the_largest_difference_against_the_curve_range():
    committed = [[25, 1.0], [50, 3.0], [75, 2.0], [100, 9.0]]
    assert compare(committed, {25: 1.0, 50: 3.0, 75: 2.0}, 75) == (3, 0.0, 0.0)
    n, diff, rel = compare(committed, {25: 1.0, 50: 3.5, 75: 2.0}, 75)
    assert (n, diff) == (3, 0.5) and math.isclose(rel, 0.25)  # range over steps <= 75 is 3 - 1
    assert compare(committed, {25: 1.0}, 75)[1] == math.inf  # a logged step missing from the fresh run


def test_config_drift_names_what_changed():
    exp = importlib.import_module("benchmarks.digits_conditioning")
    ctx = common.make_context(exp, common.parse_args(exp, []))
    committed = {"shared_overrides": {**ctx.overrides, "train.steps": 999},
                 "arms": {a.name: {"overrides": dict(a.overrides)} for a in exp.ARMS[1:]}}
    drift = config_drift(exp, ctx, committed)
    assert any("train.steps committed 999, now 1000" in d for d in drift)
    committed["shared_overrides"] = dict(ctx.overrides, **{"train.threads": ctx.overrides["train.threads"]})
    assert config_drift(exp, ctx, committed) == [f"arm {exp.ARMS[0].name}: not in the committed result"]
    assert any(exp.ARMS[0].name in d and "not in the committed result" in d for d in drift)


def test_the_committed_digits_result_is_reproduced_by_this_checkout():
    """The digits experiment's first 50 steps retrained here equal its committed curves (they are
    deterministic on one machine; other CPUs round differently, within the 1e-3 tolerance)."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.digits_conditioning", "--reproduce", "50"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "digits_conditioning --seed 0: reproduced" in proc.stdout
