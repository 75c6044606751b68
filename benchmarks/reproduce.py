"""Does this checkout reproduce a committed result? Retrain each arm's first steps and compare the curves.

A full experiment costs up to an hour; its first few hundred steps cost a minute or two, and training is
deterministic at a fixed seed on one machine, so the logged curves of a fresh short run must equal the
committed JSON's curves at the same steps (to the bit on the machine that made them, to rounding on another
CPU). A mismatch means the code, the configuration or the data changed since the result was made::

    python -m benchmarks.NAME --reproduce 200 [--seed S] [--scale cpu]

It also compares the experiment's current budget and arm overrides with those recorded in the JSON.
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

TOLERANCE = 1e-3  # largest |difference| allowed, as a fraction of the committed curve's range over the steps


def config_drift(exp: ModuleType, ctx, committed: dict[str, Any]) -> list[str]:
    """Each arm's resolved configuration now against the one its committed overrides resolve to today (an
    override made explicit without changing its value is no change; the data path is not compared)."""
    from condgan.config import load_config

    from benchmarks.common import arm_config, flat_config
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


def reproduce(exp: ModuleType, ctx, steps: int, tolerance: float = TOLERANCE) -> int:
    """Retrain every arm for `steps` steps in a temporary folder and compare; prints one line per curve.
    Returns 0 when every curve agrees within `tolerance` (of its range), 1 otherwise."""
    from benchmarks.common import RESULTS, arm_config, read_stats, result_name, train_arm
    path = RESULTS / result_name(exp.NAME, ctx.scale, ctx.seed)
    if not path.is_file():
        raise SystemExit(f"{path}: no committed result for --scale {ctx.scale} --seed {ctx.seed} to reproduce")
    committed = json.loads(path.read_text())
    drift = config_drift(exp, ctx, committed)
    for line in drift:
        print(f"configuration changed since the result was made: {line}")
    ctx.overrides = {**ctx.overrides, "train.steps": steps}
    if hasattr(exp, "training_data"):  # what training reads, without the evaluation's networks and features
        exp.training_data(ctx)
    work = Path(tempfile.mkdtemp(prefix=f"condgan-reproduce-{exp.NAME}-"))
    worst = 0.0
    try:
        for arm in exp.ARMS:
            train_arm(arm_config(ctx, arm), work / arm.name)
            rows = read_stats(work / arm.name)
            for key, curve in committed["arms"].get(arm.name, {}).get("curves", {}).items():
                fresh = {int(r["step"]): r[key] for r in rows if r.get(key) is not None}
                n, diff, rel = compare(curve, fresh, steps)
                if n:
                    worst = max(worst, rel)
                    print(f"[{arm.name}] {key}: {n} logged steps <= {steps}, max |difference| {diff:.3g} "
                          f"({rel:.2%} of its range)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ok = worst <= tolerance and not drift
    print(f"{exp.NAME} --seed {ctx.seed}: " + ("reproduced" if ok else "NOT reproduced") +
          f" (worst {worst:.3g} of a curve's range; tolerance {tolerance:g})"
          + (f"; {len(drift)} configuration change(s)" if drift else ""))
    return 0 if ok else 1
