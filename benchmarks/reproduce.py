"""Does this checkout reproduce a committed result? Retrain each arm's first steps and compare.

Training is bitwise deterministic at a fixed seed within one numeric environment (`condgan.environment`:
CPU model, ATen kernels, oneDNN ISA, torch, threads). Another CPU rounds differently, and GAN training
amplifies that difference: after 50 steps two CPUs' loss curves differ by up to a whole curve range. So a
result is reproduced at one of two strengths, and the output names the one applied and why:

- **bitwise** (this machine's numeric environment is the one recorded): every retrained curve and the
  fingerprint equal the committed ones exactly;
- **across CPUs** (it is not): the *fingerprint*, each arm's losses at each of its first `FINGERPRINT_STEPS`
  steps, must lie within a tolerance measured for that result: `SAFETY` x the largest difference that
  rounding-sized perturbations of the arithmetic (1 thread, ATen's AVX2 and scalar kernels, oneDNN capped at
  AVX2) caused up to that step when the fingerprint was made (`--fingerprint`). Rounding differences grow about
  tenfold per step while a change of the training arithmetic (a loss, a rate, an epsilon) shows at once,
  so the first steps separate the two; the longer curves are printed but not judged.

Both compare each arm's resolved configuration with the one recorded in the JSON (any difference fails)::

    python -m benchmarks.NAME --reproduce 200 [--seed S]   # 0 steps: the fingerprint and configuration only
    python -m benchmarks.NAME --fingerprint [--seed S]     # (re)make the committed result's fingerprint
"""
from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from condgan.environment import describe, differences, numeric_environment

FINGERPRINT_STEPS = 3
SAFETY = 10.0        # tolerance = SAFETY x the measured rounding envelope at each step
FLOOR = 1e-6         # the tolerance where the perturbations changed nothing at a step
# rounding-sized changes of the arithmetic, each one way another CPU differs: (environment, threads)
PERTURBATIONS = {
    "1 thread": ({}, 1),
    "ATen AVX2 kernels": ({"ATEN_CPU_CAPABILITY": "avx2"}, None),
    "ATen scalar kernels": ({"ATEN_CPU_CAPABILITY": "default"}, None),
    "oneDNN capped at AVX2": ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, None),
}


def config_drift(exp: ModuleType, ctx, committed: dict[str, Any]) -> list[str]:
    """Each arm's resolved configuration now against the one its committed overrides resolve to today (an
    override made explicit without changing its value is no change; the data path is not compared)."""
    from condgan.config import load_config

    from benchmarks.common import arm_config
    from condgan.config import flat_config
    out = []
    for arm in exp.ARMS:
        old = committed["arms"].get(arm.name)
        if old is None:
            out.append(f"arm {arm.name}: not in the committed result")
            continue
        then = load_config(old.get("preset") or ctx.preset, {**committed.get("shared_overrides", {}),
                                                             "data.source": ctx.data, "train.seed": ctx.seed,
                                                             **old.get("overrides", {})})
        a, b = flat_config(then.to_dict()), flat_config(arm_config(ctx, arm).to_dict())
        out += [f"arm {arm.name}: {k} committed {a.get(k)!r}, now {b.get(k)!r}"
                for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return out


def compare(committed: list[list[float]], fresh: dict[int, float], steps: int) -> tuple[int, float, float]:
    """(points compared, max |difference|, that as a fraction of the committed range) up to `steps`."""
    pts = [(int(s), v) for s, v in committed if s <= steps]
    if not pts:
        return 0, 0.0, 0.0
    missing = [s for s, _ in pts if s not in fresh]
    if missing:
        return len(pts), math.inf, math.inf
    diff = max(abs(fresh[s] - v) for s, v in pts)
    values = [v for _, v in pts]
    span = max(values) - min(values) or max(abs(v) for v in values) or 1.0
    return len(pts), diff, diff / span


def step_differences(committed: dict[str, dict[str, list[float]]],
                     fresh: dict[str, dict[str, list[float]]]) -> list[float]:
    """Per step, the largest |difference| over every arm and loss, each as a fraction of that loss's largest
    |value| over the fingerprint's steps (a loss near 0 would make a relative difference meaningless)."""
    steps = max((len(v) for curves in committed.values() for v in curves.values()), default=0)
    worst = [0.0] * steps
    for arm, curves in committed.items():
        for key, values in curves.items():
            if not values:
                continue
            got = fresh.get(arm, {}).get(key, [])
            scale = max(abs(v) for v in values) or 1.0
            for i, v in enumerate(values):
                d = abs(got[i] - v) / scale if i < len(got) and math.isfinite(got[i]) else math.inf
                worst[i] = max(worst[i], d)
    return worst


def _here(ctx) -> dict[str, Any]:
    env = numeric_environment()
    return {**env, "threads": ctx.overrides.get("train.threads") or env["threads"]}


# ----------------------------------------------------------------------------------------------------------
# the fingerprint: each arm's losses at each of its first steps

def fingerprint_curves(exp: ModuleType, ctx, steps: int) -> dict[str, dict[str, list[float]]]:
    """Train every arm for `steps` steps in a temporary folder, logging every step; {arm: {loss: values}}."""
    from benchmarks.common import arm_config, read_stats, train_arm
    saved = ctx.overrides
    ctx.overrides = {**saved, "train.steps": steps, "train.log_every": 1}
    if hasattr(exp, "training_data"):
        exp.training_data(ctx)
    work = Path(tempfile.mkdtemp(prefix=f"condgan-fingerprint-{exp.NAME}-"))
    out = {}
    try:
        for arm in exp.ARMS:
            train_arm(arm_config(ctx, arm), work / arm.name)
            rows = read_stats(work / arm.name)
            out[arm.name] = {k: [r[k] for r in rows if r.get(k) is not None] for k in exp.CURVE_KEYS}
    finally:
        shutil.rmtree(work, ignore_errors=True)
        ctx.overrides = saved
    return out


def _perturbed_curves(exp: ModuleType, ctx, steps: int, env: dict[str, str], threads: int | None) -> dict:
    """fingerprint_curves in a child process whose environment (or thread count) perturbs the rounding."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "curves.json"
        cmd = [sys.executable, "-m", f"benchmarks.{exp.NAME}", "--seed", str(ctx.seed), "--scale", ctx.scale,
               "--fingerprint-run", str(out), str(steps), *(["--data", ctx.data] if ctx.data else []),
               *(["--threads", str(threads)] if threads else [])]
        subprocess.run(cmd, check=True, env={**os.environ, **env}, cwd=Path(__file__).resolve().parent.parent)
        return json.loads(out.read_text())


def make_fingerprint(exp: ModuleType, ctx, steps: int = FINGERPRINT_STEPS) -> dict[str, Any]:
    """The fingerprint and its tolerance, measured: retrain the first steps here, then under each of
    PERTURBATIONS; the per-step envelope of their differences x SAFETY is the cross-CPU tolerance."""
    base = fingerprint_curves(exp, ctx, steps)
    measured = {}
    for name, (env, threads) in PERTURBATIONS.items():
        measured[name] = step_differences(base, _perturbed_curves(exp, ctx, steps, env, threads))
        print(f"fingerprint: {name}: per-step difference " + " ".join(f"{d:.2g}" for d in measured[name]),
              flush=True)
    # rounding differences only grow with the steps: a step's bound is the largest seen up to it
    envelope = list(itertools.accumulate((max(m[i] for m in measured.values()) for i in range(steps)), max))
    return {"steps": steps, "environment": _here(ctx), "curves": base, "perturbations": measured,
            "envelope": envelope, "safety": SAFETY, "tolerance": [max(SAFETY * e, FLOOR) for e in envelope]}


def write_fingerprint(exp: ModuleType, ctx) -> int:
    """`--fingerprint`: measure the fingerprint of the committed result and store it in its JSON."""
    from benchmarks.common import RESULTS, result_name
    path = RESULTS / result_name(exp.NAME, ctx.scale, ctx.seed)
    if not path.is_file():
        raise SystemExit(f"{path}: no committed result for --scale {ctx.scale} --seed {ctx.seed}")
    result = json.loads(path.read_text())
    result["fingerprint"] = make_fingerprint(exp, ctx)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote the fingerprint (tolerance per step: "
          f"{', '.join(f'{t:.2g}' for t in result['fingerprint']['tolerance'])}) into {path}")
    return 0


# ----------------------------------------------------------------------------------------------------------

def _check_fingerprint(exp: ModuleType, ctx, fp: dict[str, Any], here: dict[str, Any]) -> tuple[bool, str]:
    """(passed, strength line) for the committed fingerprint retrained here."""
    fresh = fingerprint_curves(exp, ctx, fp["steps"])
    diff = step_differences(fp["curves"], fresh)
    changed = differences(fp["environment"], here)
    if not changed:
        tolerance, strength = [0.0] * len(diff), ("bitwise: this machine's numeric environment is the "
                                                 f"fingerprint's ({describe(here)})")
    else:
        tolerance = fp["tolerance"]
        strength = (f"across CPUs: the fingerprint was made in another numeric environment ({'; '.join(changed)}),"
                    f" so its first {fp['steps']} steps are judged against {fp['safety']:g} x the rounding "
                    "envelope measured when it was made")
    for i, (d, t) in enumerate(zip(diff, tolerance)):
        print(f"fingerprint step {i + 1}: max difference {d:.3g} of a loss's scale (tolerance {t:.3g})"
              + ("" if d <= t else "  <-- exceeds"), flush=True)
    return all(d <= t for d, t in zip(diff, tolerance)), strength


def _check_curves(exp: ModuleType, ctx, committed: dict[str, Any], steps: int, judged: bool,
                  tolerance: float) -> tuple[float, int]:
    """Retrain `steps` steps per arm and print each curve's difference; returns the worst (fraction of range)
    and the number of logged points compared."""
    from benchmarks.common import arm_config, read_stats, train_arm
    saved = ctx.overrides
    ctx.overrides = {**saved, "train.steps": steps}
    if hasattr(exp, "training_data"):  # what training reads, without the evaluation's networks and features
        exp.training_data(ctx)
    work = Path(tempfile.mkdtemp(prefix=f"condgan-reproduce-{exp.NAME}-"))
    worst, points = 0.0, 0
    try:
        for arm in exp.ARMS:
            train_arm(arm_config(ctx, arm), work / arm.name)
            rows = read_stats(work / arm.name)
            for key, curve in committed["arms"].get(arm.name, {}).get("curves", {}).items():
                fresh = {int(r["step"]): r[key] for r in rows if r.get(key) is not None}
                n, diff, rel = compare(curve, fresh, steps)
                points += n
                if n:
                    worst = max(worst, rel)
                    print(f"[{arm.name}] {key}: {n} logged steps <= {steps}, max |difference| {diff:.3g} "
                          f"({rel:.2%} of its range)" + ("" if judged else ", not judged"),
                          flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        ctx.overrides = saved
    return worst, points


def reproduce(exp: ModuleType, ctx, steps: int, tolerance: float = 0.0) -> int:
    """Check the committed result (fingerprint, then `steps` steps of every curve, then the configuration);
    prints one line per check and a verdict naming the strength applied. 0 when reproduced, 1 otherwise."""
    from benchmarks.common import RESULTS, result_name
    path = RESULTS / result_name(exp.NAME, ctx.scale, ctx.seed)
    if not path.is_file():
        raise SystemExit(f"{path}: no committed result for --scale {ctx.scale} --seed {ctx.seed} to reproduce")
    committed = json.loads(path.read_text())
    here = _here(ctx)
    drift = config_drift(exp, ctx, committed)
    for line in drift:
        print(f"configuration changed since the result was made: {line}")

    verdicts, strengths = [], []
    fp = committed.get("fingerprint")
    if fp:
        ok, strength = _check_fingerprint(exp, ctx, fp, here)
        verdicts.append(ok)
        strengths.append(f"fingerprint {strength}")
    curves_env = committed.get("environment", {}).get("numeric")
    same = not differences(curves_env, here)
    if steps:
        worst, points = _check_curves(exp, ctx, committed, steps, same, tolerance)
        if not points:
            strengths.append(f"curves: no logged step <= {steps} to compare (give more steps)")
        elif same:
            verdicts.append(worst <= tolerance)
            strengths.append(f"curves bitwise: this machine's numeric environment is the result's (worst {worst:.3g})")
        else:
            why = ("the result does not record its numeric environment" if not curves_env else
                   "the result was made in another numeric environment (" + "; ".join(differences(curves_env, here)) + ")")
            strengths.append(f"curves not judged ({why}; rounding differences grow with every step): worst "
                             f"{worst:.3g} of a curve's range over {points} logged points, "
                             f"{'equal to the bit' if worst == 0 else 'shown only'}")
    if not verdicts:
        strengths.append("nothing could be judged on this machine: no fingerprint, and another numeric environment; "
                         "make one with --fingerprint where the result was made")
    ok = bool(verdicts) and all(verdicts) and not drift
    print(f"{exp.NAME} --seed {ctx.seed}: " + ("reproduced" if ok else "NOT reproduced")
          + (f"; {len(drift)} configuration change(s)" if drift else "") + "\n  " + "\n  ".join(strengths))
    return 0 if ok else 1
