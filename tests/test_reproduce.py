"""`--reproduce STEPS`: a committed benchmark result must be reproduced by the code that is committed with it,
and a changed curve or configuration must be reported as such."""
import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch.nn.functional as F

from benchmarks import common
from benchmarks.reproduce import compare, config_drift, reproduce, step_differences
from condgan.environment import numeric_environment
from condgan.losses.registry import ADVERSARIAL, AdversarialLoss

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
    """The digits experiment retrained here: its fingerprint (first steps) bitwise where the fingerprint was
    made, within the measured rounding tolerance on any other CPU; the first 50 steps' curves are shown."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.digits_conditioning", "--reproduce", "50"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "digits_conditioning --seed 0: reproduced" in proc.stdout
    assert "fingerprint bitwise" in proc.stdout or "fingerprint across CPUs" in proc.stdout


# ------------------------------------------------- the cross-CPU path, exercised on any machine

@pytest.fixture
def digits_result(tmp_path, monkeypatch):
    """The committed digits result copied into a temporary results folder that `reproduce` reads; returns
    (its JSON as a dict, a function writing it back, the experiment, a context)."""
    exp = importlib.import_module("benchmarks.digits_conditioning")
    result = json.loads((common.RESULTS / "digits_conditioning.json").read_text())
    assert "fingerprint" in result, "the committed digits result has no fingerprint (--fingerprint)"
    monkeypatch.setattr(common, "RESULTS", tmp_path)

    def write(r):
        (tmp_path / "digits_conditioning.json").write_text(json.dumps(r))
    write(result)
    return result, write, exp, common.make_context(exp, common.parse_args(exp, []))


def from_another_cpu(result):
    """Make the fingerprint look as if it came from a CPU with another ATen capability than this one."""
    here = numeric_environment()["cpu_capability"]
    result["fingerprint"]["environment"]["cpu_capability"] = "AVX2" if here != "AVX2" else "AVX512"
    return result


def hinge_with_margin(margin):
    return AdversarialLoss(lambda real, fake: F.relu(margin - real).mean() + F.relu(margin + fake).mean(),
                           ADVERSARIAL["hinge"].g)


def test_cross_cpu_path_passes_this_checkout_and_says_so(digits_result, capsys):
    result, write, exp, ctx = digits_result
    write(from_another_cpu(result))
    assert reproduce(exp, ctx, 0) == 0
    out = capsys.readouterr().out
    assert "reproduced" in out and "NOT" not in out and "fingerprint across CPUs" in out
    assert "cpu_capability" in out  # names what differs


def test_cross_cpu_path_catches_a_hinge_margin_of_0_9(digits_result, capsys, monkeypatch):
    result, write, exp, ctx = digits_result
    write(from_another_cpu(result))
    monkeypatch.setitem(ADVERSARIAL, "hinge", hinge_with_margin(0.9))
    assert reproduce(exp, ctx, 0) == 1
    out = capsys.readouterr().out
    assert "NOT reproduced" in out and "fingerprint across CPUs" in out and "exceeds" in out


def test_cross_cpu_path_catches_a_configuration_change(digits_result, capsys):
    result, write, exp, ctx = digits_result
    acgan = exp.ARMS[1].name
    result["arms"][acgan]["overrides"] = {**result["arms"][acgan]["overrides"], "loss.cond_lambda": 0.5}
    write(from_another_cpu(result))
    assert reproduce(exp, ctx, 0) == 1
    out = capsys.readouterr().out
    assert "NOT reproduced; 1 configuration change(s)" in out
    assert f"arm {acgan}: loss.cond_lambda committed 0.5, now 1.0" in out


def test_same_environment_path_is_bitwise(digits_result, capsys):
    """Where the fingerprint's environment is this one, a difference far below the cross-CPU tolerance
    (one part in 10^9) is still a failure."""
    result, write, exp, ctx = digits_result
    fp = result["fingerprint"]
    fp["environment"] = {**numeric_environment(), "threads": ctx.overrides["train.threads"]}
    curve = fp["curves"][exp.ARMS[0].name]["D/loss"]
    curve[0] *= 1 + 1e-9
    write(result)
    assert reproduce(exp, ctx, 0) == 1
    out = capsys.readouterr().out
    assert "NOT reproduced" in out and "fingerprint bitwise" in out


def test_fingerprint_differences_are_scaled_by_each_loss():
    committed = {"a": {"D/loss": [2.0, 4.0], "G/loss": [0.0, -1.0]}}
    fresh = {"a": {"D/loss": [2.0, 3.0], "G/loss": [0.1, -1.0]}}
    assert step_differences(committed, fresh) == [0.1, 0.25]
    assert step_differences(committed, {"a": {"D/loss": [2.0], "G/loss": [0.0]}})[1] == math.inf
