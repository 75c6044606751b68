"""Training-run figures: losses, metrics, speed, the truncation trade-off and a grid timeline.

Every function takes plain rows (dicts read from `stats.jsonl` or `truncation_sweep.csv`), writes one PNG
atomically (a temporary name, then a rename, so a report being read never sees half an image) and returns
its path, or returns None when there is nothing to plot, so callers can say "no data" instead of
shipping an empty axes. matplotlib runs on the Agg backend: no window, no display needed on a server.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: never try to open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io import atomic_write  # noqa: E402
from .metrics import registry  # noqa: E402

DPI = 110
STYLE = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9,
         "xtick.labelsize": 9, "ytick.labelsize": 9, "axes.grid": True, "grid.alpha": 0.3}

Row = dict[str, Any]


def lower_is_better(name: str) -> bool:
    """What the metric registry declares for this key (or metric name); `name` may carry the "metric/" prefix."""
    return registry.lower_is_better(name)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def training_rows(rows: Iterable[Row]) -> list[Row]:
    """Rows logged by the training loop: not events, not evaluation results."""
    return [r for r in rows if "event" not in r and _is_number(r.get("step"))
            and not any(k.startswith("metric/") for k in r)]


def series(rows: Iterable[Row], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of `key`, skipping event rows and rows without a finite value, sorted by step."""
    pts = sorted((r["step"], r[key]) for r in rows
                 if "event" not in r and _is_number(r.get("step")) and _is_number(r.get(key)))
    if not pts:
        return np.zeros(0), np.zeros(0)
    s, v = zip(*pts)
    return np.asarray(s, dtype=float), np.asarray(v, dtype=float)


def smooth(values: np.ndarray, frac: float = 0.05) -> np.ndarray:
    """Centered moving average over ~5% of the points: shows the trend without hiding the raw curve."""
    w = max(1, int(round(len(values) * frac)) | 1)  # odd width
    if w == 1 or len(values) < 3:
        return values
    pad = w // 2
    padded = np.pad(values, pad, mode="edge")
    return np.convolve(padded, np.ones(w) / w, mode="valid")


def _save(fig: plt.Figure, path: Path | str) -> Path:
    """Write the figure atomically (`condgan.io.atomic_write`)."""
    try:
        return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI, bbox_inches="tight"))
    finally:
        plt.close(fig)


def _raw_and_smooth(ax: plt.Axes, steps: np.ndarray, values: np.ndarray, label: str, color: str) -> None:
    ax.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
    ax.plot(steps, smooth(values), color=color, linewidth=1.6, label=label)


def plot_losses(rows: Sequence[Row], path: Path | str) -> Path | None:
    """Discriminator/generator losses (left), discriminator outputs on real/fake (middle) and, for
    classifier-based methods, the conditioning probes of ReACGAN Fig. 2 (right, log scale) vs step.

    Raw values are faint, a moving average is drawn over them; rollback events are dashed red lines so a
    jump in the curves can be traced to the loop restoring a checkpoint.
    """
    train = training_rows(rows)
    loss_keys = [k for k in ("D/loss", "G/loss") if len(series(train, k)[0])]
    loss_keys += sorted({k for r in train for k in r if k.endswith("/loss") and k not in loss_keys
                         and _is_number(r[k])})
    out_keys = [k for k in ("D/real", "D/fake") if len(series(train, k)[0])]
    if not loss_keys and not out_keys:
        return None
    events = [r for r in rows if r.get("event") == "rollback" and _is_number(r.get("step"))]
    probe_keys = sorted({k for r in train for k in r if k.startswith("probe/") and _is_number(r[k])})
    panels = [(loss_keys, "Losses", "loss"), (out_keys, "Discriminator outputs", "D(x)"),
              (probe_keys, "Conditioning probes (growing: ACGAN-style collapse ahead)", "norm")]
    panels = [p for p in panels if p[0]]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.4), squeeze=False)
        for ax, (keys, title, ylabel) in zip(axes[0], panels):
            for i, key in enumerate(keys):
                _raw_and_smooth(ax, *series(train, key), key, colors[i % len(colors)])
            for j, ev in enumerate(events):
                ax.axvline(ev["step"], color="crimson", linestyle="--", linewidth=1,
                           label="rollback" if j == 0 else None)
            ax.set(title=title, xlabel="step", ylabel=ylabel)
            if ylabel == "norm":
                ax.set_yscale("log")
            ax.legend(loc="best")
        fig.suptitle("Training losses (faint: raw, solid: moving average)", fontsize=11)
        fig.tight_layout()
        return _save(fig, path)


def metric_keys(rows: Iterable[Row]) -> list[str]:
    """The `metric/*` scores (keys the registry says are better lower or higher; not spreads or sample counts)
    that have at least one finite value, lower-is-better first."""
    keys = {k for r in rows for k, v in r.items() if k.startswith("metric/") and _is_number(v)
            and registry.direction(k) is not None}
    return sorted(keys, key=lambda k: (not lower_is_better(k), k))


def plot_metrics(rows: Sequence[Row], path: Path | str) -> Path | None:
    """One small panel per `metric/*` key vs step, titled with which direction is better."""
    keys = metric_keys(rows)
    if not keys:
        return None
    cols = 2 if len(keys) == 4 else min(3, len(keys))
    nrows = -(-len(keys) // cols)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, cols, figsize=(4.0 * cols, 3.0 * nrows), squeeze=False)
        for ax, key in zip(axes.flat, keys):
            s, v = series(rows, key)
            ax.plot(s, v, marker="o", markersize=3.5, linewidth=1.4)
            name = key.removeprefix("metric/")
            ax.set(title=f"{name} ({'lower' if lower_is_better(key) else 'higher'} is better)",
                   xlabel="step", ylabel=name)
            if lower_is_better(key) and len(v) > 1 and v.min() > 0 and v.max() / v.min() > 10:
                ax.set_yscale("log")  # FID often falls by orders of magnitude early on
        for ax in axes.flat[len(keys):]:
            ax.set_visible(False)
        fig.suptitle("Evaluation metrics during training", fontsize=11)
        fig.tight_layout()
        return _save(fig, path)


def plot_speed(rows: Sequence[Row], path: Path | str) -> Path | None:
    """Training throughput (images/s) vs step: slow-downs show up as dips (evaluation, checkpointing)."""
    s, v = series(training_rows(rows), "images_per_sec")
    if not len(s):
        return None
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.0, 2.8))
        _raw_and_smooth(ax, s, v, "images/s", "tab:green")
        med = float(np.median(v))
        ax.axhline(med, color="gray", linestyle=":", linewidth=1, label=f"median {med:,.0f} images/s")
        ax.set(title="Training speed", xlabel="step", ylabel="images / s")
        ax.set_ylim(bottom=0)
        ax.legend(loc="best", framealpha=0.9)
        fig.tight_layout()
        return _save(fig, path)


def plot_truncation_curve(rows: Sequence[Row], path: Path | str) -> Path | None:
    """The BigGAN trade-off: Inception Score (variety+quality) against FID as truncation varies.

    Each point is one truncation threshold; lower truncation usually raises IS (cleaner class samples)
    until FID worsens from the lost diversity. Points are joined in truncation order and labelled.
    """
    pts = []
    for r in rows:
        try:
            t, fid, is_mean = float(r["truncation"]), float(r["fid"]), float(r["is_mean"])
        except (KeyError, TypeError, ValueError):
            continue
        if all(map(math.isfinite, (fid, is_mean))):
            pts.append((t, is_mean, fid))
    if not pts:
        return None
    pts.sort()
    t, x, y = (np.asarray(a) for a in zip(*pts))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 4.2))
        ax.plot(x, y, color="tab:purple", linewidth=1.2, alpha=0.6)
        sc = ax.scatter(x, y, c=t, cmap="viridis", s=36, zorder=3)
        for ti, xi, yi in zip(t, x, y):
            ax.annotate(f"{ti:g}", (xi, yi), textcoords="offset points", xytext=(5, 4), fontsize=9)
        ax.margins(x=0.12, y=0.1)  # room for the point labels
        fig.colorbar(sc, ax=ax, label="truncation")
        ax.set(title="Truncation trade-off (best: bottom right)", xlabel="Inception Score (higher is better)",
               ylabel="FID (lower is better)")
        fig.tight_layout()
        return _save(fig, path)


def grid_step(path: Path | str) -> int | None:
    """The training step in a grid file name such as `grid-0001000.png`."""
    digits = "".join(c for c in Path(path).stem if c.isdigit())
    return int(digits) if digits else None


def grid_timeline(grid_paths: Sequence[Path | str], path: Path | str, max_frames: int = 6,
                  max_rows: int = 4) -> Path | None:
    """A strip of grids over time (evenly spaced, always the first and the newest), the top `max_rows`
    class rows of each, labelled with the step: shows the samples sharpening at a glance."""
    from PIL import Image

    grids = sorted((p for p in grid_paths if grid_step(p) is not None), key=grid_step)
    if not grids:
        return None
    idx = np.unique(np.linspace(0, len(grids) - 1, min(max_frames, len(grids))).round().astype(int))
    frames = []
    for i in idx:
        with Image.open(grids[i]) as im:
            im = im.convert("RGB")
        classes = _guess_rows(im)
        if classes > max_rows:
            im = im.crop((0, 0, im.width, round(im.height * max_rows / classes)))
        frames.append((grid_step(grids[i]), np.asarray(im)))
    with plt.rc_context(STYLE):
        h, w = frames[0][1].shape[:2]
        panel_w = 2.4
        fig, axes = plt.subplots(1, len(frames), squeeze=False,
                                 figsize=(panel_w * len(frames), panel_w * h / w + 0.5))
        for ax, (step, img) in zip(axes[0], frames):
            ax.imshow(img, interpolation="nearest")
            ax.set_title(f"step {step:,}")
            ax.axis("off")
        fig.suptitle("Samples over time (top class rows of each grid)", fontsize=11)
        fig.tight_layout()
        return _save(fig, path)


def _guess_rows(im: Any) -> int:
    """Number of class rows in a grid written by `make_grid`: cells are separated by 1-pixel white lines,
    so find the smallest period p with a white line at every p-1, 2p-1, ... Falls back to 1 (whole image)."""
    a = np.asarray(im.convert("L"))
    white = (a == 255).all(axis=1)
    height = a.shape[0]
    for p in range(3, height // 2 + 2):
        if (height + 1) % p == 0 and all(white[k * p - 1] for k in range(1, (height + 1) // p)):
            return (height + 1) // p
    return 1
