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


# ---------------------------------------------------------------------------------------------- analyses
# Figures of `condgan.analysis`: the numbers are computed there, drawn here.


def _mosaic(images: np.ndarray, gap_x: int, gap_y: int, first_gap: int | None = None) -> np.ndarray:
    """uint8 (R, F, H, W, C) -> one (R*H + gaps, F*W + gaps, C) image on white; `first_gap` widens the gap
    after column 0. One imshow of a mosaic draws in a fraction of the time of one axes per image."""
    r, f, h, w, c = images.shape
    xs = [j * (w + gap_x) + ((first_gap or gap_x) - gap_x if j else 0) for j in range(f)]
    out = np.full((r * (h + gap_y) - gap_y, xs[-1] + w, c), 255, np.uint8)
    for i in range(r):
        for j in range(f):
            out[i * (h + gap_y): i * (h + gap_y) + h, xs[j]: xs[j] + w] = images[i, j]
    return out


def _mosaic_axes(mosaic: np.ndarray, width: float, height: float) -> tuple[plt.Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(width, height))
    if mosaic.shape[-1] == 1:
        ax.imshow(mosaic[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(mosaic, interpolation="nearest")
    for side in ax.spines.values():
        side.set_visible(False)
    ax.tick_params(length=0)
    return fig, ax


def plot_image_rows(rows: np.ndarray, path: Path | str, title: str, row_labels: Sequence[str],
                    col_labels: Sequence[str] | None = None, cell: float = 0.6) -> Path:
    """A grid of uint8 images (R, F, H, W, C) with a label left of each row and above each column."""
    r, f, h, w = rows.shape[:4]
    gap = max(1, h // 8)
    mosaic = _mosaic(rows, gap, gap)
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = _mosaic_axes(mosaic, cell * f + 1.4, cell * r + 0.8)
        ax.set_yticks([i * (h + gap) + h / 2 - 0.5 for i in range(r)], row_labels, fontsize=8)
        ax.xaxis.tick_top()
        ax.set_xticks([j * (w + gap) + w / 2 - 0.5 for j in range(f)],
                      list(col_labels) if col_labels else [""] * f, fontsize=8)
        ax.set_title(title, fontsize=10, pad=16)
        fig.tight_layout()
        return _save(fig, path)


def plot_neighbours(queries: np.ndarray, neighbours: np.ndarray, distances: np.ndarray, row_labels: Sequence[str],
                    path: Path | str, feature_space: str, cell: float = 0.7) -> Path:
    """Each generated sample (left, framed in red) followed by its nearest training images, nearest first,
    with their distances in the feature space under them."""
    from matplotlib.patches import Rectangle
    n, k, h, w = neighbours.shape[:4]
    gap_x, gap_y = max(1, w // 8), max(4, round(h * 0.45))  # room under each row for the distances
    first = max(3, w // 2)
    mosaic = _mosaic(np.concatenate([queries[:, None], neighbours], axis=1), gap_x, gap_y, first_gap=first)
    xs = [0] + [first + w + (j - 1) * (w + gap_x) for j in range(1, k + 1)]
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = _mosaic_axes(mosaic, cell * (k + 1.5) + 1.4, cell * 1.45 * n + 0.9)
        for i in range(n):
            top = i * (h + gap_y)
            ax.add_patch(Rectangle((-0.5, top - 0.5), w, h, fill=False, edgecolor="crimson", linewidth=1.5))
            for j in range(k):
                ax.text(xs[j + 1] + w / 2 - 0.5, top + h + gap_y * 0.05, f"{distances[i, j]:.3g}", ha="center",
                        va="top", fontsize=7)
        ax.set_yticks([i * (h + gap_y) + h / 2 - 0.5 for i in range(n)], row_labels, fontsize=8)
        ax.xaxis.tick_top()
        ax.set_xticks([x + w / 2 - 0.5 for x in xs], ["generated"] + [f"NN {j}" for j in range(1, k + 1)], fontsize=8)
        ax.set_title(f"Nearest training images (distances in {feature_space.split(' (')[0]} features)", fontsize=10,
                     pad=16)
        fig.tight_layout()
        return _save(fig, path)


def plot_class_fid(rows: Sequence[tuple[str, float]], path: Path | str, mean: float | None = None,
                   left_out: int = 0) -> Path | None:
    """Horizontal bars of per-class FID, worst at the top, in the order given (`analysis.class_fid.ranked`);
    a dashed line at the mean; `left_out` classes between the worst and best shown are marked by a gap."""
    if not rows:
        return None
    labels = [r[0] for r in rows]
    values = np.asarray([r[1] for r in rows], dtype=float)
    pos = np.arange(len(rows), dtype=float)
    if left_out:  # a gap of one bar between the worst and the best halves
        pos[len(rows) // 2:] += 1
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 0.22 * (len(rows) + (1 if left_out else 0)) + 1.2))
        ax.barh(pos, np.where(np.isfinite(values), values, 0.0), color="tab:blue", height=0.75)
        ax.set_yticks(pos, labels, fontsize=8)
        ax.invert_yaxis()  # worst first, at the top
        if mean is not None and math.isfinite(mean):
            ax.axvline(mean, color="crimson", linestyle="--", linewidth=1.2, label=f"mean {mean:.4g}")
            ax.legend(loc="lower right")
        if left_out:
            ax.text(0, len(rows) // 2, f"  … {left_out} classes not shown …", va="center", fontsize=8, color="#555")
        ax.set(xlabel="FID (lower is better)", title="Per-class FID (intra-FID), worst first")
        ax.grid(axis="y", visible=False)
        fig.tight_layout()
        return _save(fig, path)


def plot_spectrum(real: np.ndarray, fake: np.ndarray, real_profile: np.ndarray, fake_profile: np.ndarray,
                  path: Path | str) -> Path:
    """Mean log power spectra (dB, zero frequency in the centre) of real and generated images side by side,
    on one colour scale, and their radial profiles against frequency."""
    lo, hi = (float(np.percentile(np.stack([real, fake]), p)) for p in (1, 99.5))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(11.0, 3.4), gridspec_kw={"width_ratios": [1, 1, 1.3]})
        for ax, spec, name in ((axes[0], real, "real"), (axes[1], fake, "generated")):
            im = ax.imshow(spec, cmap="magma", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_title(f"{name}: mean log power")
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(im, ax=axes[:2].tolist(), shrink=0.85, label="dB")
        f = np.arange(len(real_profile))
        axes[2].plot(f, real_profile, marker="o", markersize=3, label="real")
        axes[2].plot(f, fake_profile, marker="o", markersize=3, label="generated")
        axes[2].set(title="Radial profile", xlabel="frequency (cycles per image)", ylabel="dB")
        axes[2].legend(loc="best")
        fig.suptitle("Power spectrum, real vs generated (grey, smooth content removed)", fontsize=11)
        return _save(fig, path)
