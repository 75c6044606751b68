"""Per-class FID as a sorted bar chart: which classes the generator draws worst.

`condgan evaluate --metrics intra_fid --json RUN/metrics-NAME.json` stores the per-class values under
`intra_fid` (class id -> FID) next to their mean `intra_fid_mean`; this module finds the newest such file in
a run folder and orders the classes, worst first. With many classes (ImageNet's 1,000) the chart keeps the
worst and the best `limit // 2` and says how many it left out between them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ClassFID:
    values: dict[int, float]      # class id -> FID
    mean: float | None            # intra_fid_mean as stored (None when absent)
    source: Path                  # the metrics-*.json it came from


def read_class_fid(run_dir: Path) -> ClassFID | None:
    """The per-class FIDs of the newest metrics-*.json in `run_dir` that holds them (by file time), if any."""
    found = []
    for path in Path(run_dir).glob("metrics-*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        per_class = data.get("intra_fid") if isinstance(data, dict) else None
        if isinstance(per_class, dict) and per_class:
            try:
                values = {int(k): float(v) for k, v in per_class.items()}
            except (TypeError, ValueError):
                continue
            mean = data.get("intra_fid_mean")
            found.append((path.stat().st_mtime, path.name, ClassFID(
                values, float(mean) if isinstance(mean, (int, float)) else None, path)))
    return max(found, key=lambda f: f[:2])[2] if found else None


def ranked(values: dict[int, float], limit: int = 40) -> tuple[list[tuple[int, float]], int]:
    """Classes by FID, worst (highest) first, non-finite values last; when there are more than `limit`, only
    the worst and best `limit // 2`. Returns (rows, how many were left out in the middle)."""
    order = sorted(values.items(), key=lambda kv: (not math.isfinite(kv[1]), -kv[1] if math.isfinite(kv[1])
                                                   else 0.0, kv[0]))
    if len(order) <= limit:
        return order, 0
    half = limit // 2
    return order[:half] + order[-half:], len(order) - 2 * half


def write_figure(run_dir: Path, out_dir: Path, names: list[str] | None = None, limit: int = 40
                 ) -> tuple[Path, ClassFID] | None:
    """class-fid.png from the run's newest intra-FID evaluation; None when it has none."""
    from .. import plots
    found = read_class_fid(run_dir)
    if found is None:
        return None
    rows, left_out = ranked(found.values, limit)
    label = (lambda c: f"{c} {names[c]}" if names and c < len(names) and names[c] != str(c) else str(c))
    png = plots.plot_class_fid([(label(c), v) for c, v in rows], Path(out_dir) / "class-fid.png", found.mean,
                               left_out)
    return png, found
