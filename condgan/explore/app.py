"""The explorer's model side: a loaded G_ema, what its run folder says about it, and requests checked
before they reach the generator (a bad value becomes a `BadRequest` whose one-line message the page shows).
"""
from __future__ import annotations

import base64
import io
import json
import math
import threading
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ..errors import UsageError
from ..sample import ConditionalSampler, make_grid

TRUNCATION_MAX = 4.0     # a threshold beyond 4 standard deviations truncates nothing worth showing
MAX_CLASSES = 32         # rows of one grid
MAX_PER_CLASS = 16
MAX_FRAMES = 16
SEED_MAX = 2**31 - 1


class BadRequest(UsageError):
    """A request the page should explain rather than run (answered with 400 and the message)."""


def run_folder(path: Path) -> Path | None:
    """The run folder a path belongs to: itself, or the run holding checkpoints/FILE; None for a snapshot
    or a checkpoint outside a run (nothing else of its run is known)."""
    path = Path(path)
    if path.is_dir():
        return path
    if path.parent.name == "checkpoints":
        return path.parent.parent
    return None


def run_summary(config: dict[str, Any], run_dir: Path | None) -> dict[str, Any]:
    """The configuration summary and the stored metrics the page shows (the report's tables, as data)."""
    from ..report import CONFIG_KEYS, _get, metric_summary, read_stats
    summary: dict[str, Any] = {
        "description": " ".join(str(config.get("description") or "").split()),
        "config": [[k, _get(config, k)] for k in CONFIG_KEYS if _get(config, k) is not None],
        "metrics": [], "evaluations": []}
    if run_dir is None:
        return summary
    summary["metrics"] = metric_summary(read_stats(run_dir / "stats.jsonl"))
    for f in sorted(run_dir.glob("metrics-*.json")):
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            values = {k: v for k, v in data.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
            summary["evaluations"].append({"file": f.name, "values": values})
    return summary


def png_data_uri(image: np.ndarray) -> str:
    """(H, W, C) uint8 -> a data: URI of its PNG."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class Explorer:
    """A generator ready for the page's requests. One generation runs at a time (a lock): requests that
    arrive meanwhile wait, while page loads and info requests are answered at once."""

    def __init__(self, sampler: ConditionalSampler, config: dict[str, Any] | None = None,
                 run_dir: Path | None = None, source: str = ""):
        self.sampler = sampler
        self.source = source
        self.summary = run_summary(config or {}, run_dir)
        self.lock = threading.Lock()

    @classmethod
    def open(cls, path: str | Path, device: torch.device, precision: str | None = None) -> "Explorer":
        """Load G_ema from a run folder, checkpoint or `.safetensors` snapshot (`condgan.load`)."""
        from .. import load
        from ..snapshot import read_generator
        snap = read_generator(Path(path))
        sampler = load(snap, device=device, precision=precision)
        return cls(sampler, snap.config, run_folder(Path(path)), str(path))

    # ------------------------------------------------------------------------------------------ requests

    def info(self) -> dict[str, Any]:
        s = self.sampler
        return {"source": self.source, "step": s.step, "class_names": s.class_names, "num_classes": s.num_classes,
                "resolution": s.resolution, "channels": s.channels, "z_dim": s.z_dim, "device": str(s.device),
                "conditional": self._has_class_embedding(), "truncation_max": TRUNCATION_MAX,
                "max_classes": MAX_CLASSES, "max_per_class": MAX_PER_CLASS, "max_frames": MAX_FRAMES,
                **self.summary}

    def _has_class_embedding(self) -> bool:
        from ..analysis.interpolation import class_embedding
        try:
            class_embedding(self.sampler.G)
            return True
        except UsageError:
            return False

    def parse_class(self, text: str, what: str = "class") -> int:
        """A class by name (exact, then ignoring case) or by id."""
        t = text.strip()
        names = self.sampler.class_names
        if t in names:
            return names.index(t)
        lowered = [n.lower() for n in names]
        if t.lower() in lowered:
            return lowered.index(t.lower())
        try:
            c = int(t)
        except ValueError:
            c = None
        if c is not None and 0 <= c < self.sampler.num_classes:
            return c
        example = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise BadRequest(f"Unknown {what} '{t[:60]}': use a class name ({example}) or an id in "
                         f"0–{self.sampler.num_classes - 1}.")

    def parse_classes(self, text: str | None) -> list[int]:
        parts = [p for p in (text or "").split(",") if p.strip()]
        if not parts:
            raise BadRequest("Choose at least one class.")
        if len(parts) > MAX_CLASSES:
            raise BadRequest(f"{len(parts)} classes at once; at most {MAX_CLASSES}.")
        return [self.parse_class(p) for p in parts]

    @staticmethod
    def parse_truncation(text: str | None) -> float | None:
        if text is None or text.strip().lower() in ("", "none", "off"):
            return None
        try:
            t = float(text)
        except ValueError:
            raise BadRequest(f"Truncation '{text[:30]}' is not a number.") from None
        if not (math.isfinite(t) and 0 < t <= TRUNCATION_MAX):
            raise BadRequest(f"Truncation {text[:30]} is outside (0, {TRUNCATION_MAX:g}]; use 'none' for no "
                             "truncation.")
        return t

    @staticmethod
    def parse_int(name: str, text: str | None, lo: int, hi: int, default: int) -> int:
        if text is None or text.strip() == "":
            return default
        try:
            v = int(text)
        except ValueError:
            raise BadRequest(f"{name} '{text[:30]}' is not a whole number.") from None
        if not lo <= v <= hi:
            raise BadRequest(f"{name} {v} is outside [{lo}, {hi}].")
        return v

    def _timed(self, fn) -> tuple[np.ndarray, float]:
        with self.lock:
            start = time.perf_counter()
            out = fn()
            return out, time.perf_counter() - start

    def sample(self, q: Mapping[str, str]) -> dict[str, Any]:
        """A grid, one row per class, `per_class` columns: what `condgan sample` and the training grids draw."""
        classes = self.parse_classes(q.get("classes"))
        truncation = self.parse_truncation(q.get("truncation"))
        seed = self.parse_int("Seed", q.get("seed"), 0, SEED_MAX, 0)
        per_class = self.parse_int("Images per class", q.get("per_class"), 1, MAX_PER_CLASS, 6)
        grid, secs = self._timed(lambda: self.sampler.class_grid(classes, per_class, truncation, seed))
        return {"image": png_data_uri(grid), "rows": [self.sampler.class_names[c] for c in classes],
                "cols": per_class, "seconds": round(secs, 3)}

    def interpolate(self, q: Mapping[str, str]) -> dict[str, Any]:
        """One strip of frames: mode 'z' (two seeds at one class) or 'class' (two classes at one seed)."""
        from ..analysis.interpolation import interpolate_classes, interpolate_z
        mode = (q.get("mode") or "z").strip()
        truncation = self.parse_truncation(q.get("truncation"))
        frames = self.parse_int("Frames", q.get("frames"), 2, MAX_FRAMES, 8)
        if mode == "z":
            c = self.parse_class(q.get("class") or "")
            a = self.parse_int("Seed A", q.get("seed_a"), 0, SEED_MAX, 0)
            b = self.parse_int("Seed B", q.get("seed_b"), 0, SEED_MAX, 1)
            run = lambda: interpolate_z(self.sampler, c, a, b, frames, truncation)  # noqa: E731
            label = f"class {self.sampler.class_names[c]}: seed {a} → seed {b}"
        elif mode == "class":
            if not self._has_class_embedding():
                raise BadRequest("This generator has no class embedding to interpolate; interpolate in z.")
            ca = self.parse_class(q.get("class_a") or "", "class A")
            cb = self.parse_class(q.get("class_b") or "", "class B")
            s = self.parse_int("Seed", q.get("seed"), 0, SEED_MAX, 0)
            run = lambda: interpolate_classes(self.sampler, ca, cb, s, frames, truncation)  # noqa: E731
            names = self.sampler.class_names
            label = f"seed {s}: class {names[ca]} → class {names[cb]}"
        else:
            raise BadRequest(f"Interpolation mode '{mode[:20]}': use z or class.")
        images, secs = self._timed(lambda: run().numpy())
        return {"image": png_data_uri(make_grid(images, rows=1)), "label": label, "cols": frames,
                "seconds": round(secs, 3)}
