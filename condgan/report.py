"""One self-contained HTML page that summarises a training run folder.

`write_report(run_dir)` reads what a run leaves behind (config.yaml, stats.jsonl, grids/, and optionally
truncation_sweep.csv and metrics-*.json from `condgan evaluate`), draws the figures with `condgan.plots`,
adds the analyses of `condgan.analysis` (interpolation, nearest neighbours, per-class FID, power spectrum;
they load the newest checkpoint's G_ema and the training data) and writes `RUN/report/index.html`. Every
image is embedded as a base64 data URI and the CSS is inline, so the single file can be mailed, attached to
an issue or opened offline; the PNGs are also written next to it for reuse. Missing data gives a one-line
note rather than a missing section, so a reader can tell "not measured" from "report is broken".
"""
from __future__ import annotations

import base64
import csv
import functools
import html
import json
import math
from pathlib import Path
from typing import Any

import yaml

from . import plots
from .errors import CondganError, UsageError
from .io import atomic_write, list_checkpoints, read_checkpoint

# The figures a report promises (id -> title). Tests check that each one is embedded.
PLOTS = {
    "plot-losses": "Losses",
    "plot-metrics": "Metrics during training",
    "plot-speed": "Training speed",
    "grid-latest": "Newest per-class sample grid",
    "grid-timeline": "Samples over time",
    "plot-truncation": "Truncation trade-off",
}

# The analysis figures (id -> title), promised in a list of their own: they need a generator that loads.
ANALYSIS_FIGURES = {
    "analysis-interp-z": "Interpolation in z at a fixed class",
    "analysis-interp-class": "Interpolation across classes at a fixed z",
    "analysis-neighbours": "Nearest training images",
    "analysis-class-fid": "Per-class FID",
    "analysis-spectrum": "Power spectrum",
}

NEIGHBOURS_K = 5            # training images shown per generated sample
NEIGHBOURS_POOL = 5000      # at most this many training images searched (a fixed random choice)

CONFIG_KEYS = ["preset", "data.source", "data.resolution", "G.arch", "G.ch", "G.z_dim", "D.arch", "D.ch",
               "D.head", "loss.adversarial", "optim.g_lr", "optim.d_lr", "optim.g_betas", "optim.d_betas",
               "train.batch_size", "train.d_steps", "train.steps", "train.ema_decay", "train.seed"]

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1100px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 32px;
     border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #555; margin: 2px 0; } .note { color: #777; font-style: italic; }
table { border-collapse: collapse; margin: 8px 0; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: 3px 10px; text-align: left; }
th { background: #f4f4f4; } table.config td:nth-child(3) { border-left: 2px solid #bbb; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img.fig { max-width: 100%; height: auto; display: block; margin: 8px 0; }
.gridbox { display: flex; gap: 8px; align-items: flex-start; }
.gridbox img { image-rendering: pixelated; image-rendering: crisp-edges; }
.names { display: flex; flex-direction: column; justify-content: space-around; font-size: 13px;
         color: #444; text-align: right; }
ul.promised { columns: 2; font-size: 14px; }
"""


# ---------------------------------------------------------------------------------------------- reading


def read_stats(path: Path) -> list[dict[str, Any]]:
    """Rows of stats.jsonl; a line cut short by a crash (or any unparsable line) is skipped."""
    rows = []
    if not path.is_file():
        return rows
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "step" in row:
            rows.append(row)
    return rows


def read_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV with numeric cells converted to float where possible."""
    def num(v: str) -> Any:
        try:
            return float(v)
        except (TypeError, ValueError):
            return v
    with open(path, newline="") as f:
        return [{k: num(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _get(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def class_names(run_dir: Path) -> list[str] | None:
    """Class names from the newest checkpoint's data metadata (memory-mapped, no weights read), if any."""
    try:
        found = list_checkpoints(run_dir / "checkpoints")
        if not found:
            return None
        state = read_checkpoint(found[-1][1], mmap=True)
        names = state.get("data", {}).get("class_names")
        return [str(n) for n in names] if names else None
    except Exception:  # the report is a convenience: an unreadable checkpoint only loses the names
        return None


def grid_classes(num_classes: int, k: int) -> list[int]:
    """The classes shown in the training grids (same rule as `training.loop.write_grid`)."""
    k = min(k, num_classes)
    if k <= 1:
        return [0][:k]
    return [round(i * (num_classes - 1) / (k - 1)) for i in range(k)]


# ---------------------------------------------------------------------------------------------- html bits


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return html.escape(str(v))
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return html.escape(str(v))


def _table(header: list[str], rows: list[list[Any]], row_ids: list[str] | None = None, css_class: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, r in enumerate(rows):
        rid = f' id="{row_ids[i]}"' if row_ids else ""
        cells = "".join(f'<td class="num">{_fmt(c)}</td>' if isinstance(c, (int, float)) and not isinstance(c, bool)
                        else f"<td>{_fmt(c)}</td>" for c in r)
        body.append(f"<tr{rid}>{cells}</tr>")
    cls = f' class="{css_class}"' if css_class else ""
    return f"<table{cls}><tr>{head}</tr>{''.join(body)}</table>"


def _data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _img(png: Path, id_: str, alt: str, css_class: str = "fig", style: str = "") -> str:
    style = f' style="{style}"' if style else ""
    return f'<img class="{css_class}" id="{id_}" alt="{html.escape(alt)}" src="{_data_uri(png)}"{style}>'


def _note(text: str, id_: str | None = None) -> str:
    ident = f' id="{id_}"' if id_ else ""
    return f'<p class="note"{ident}>{html.escape(text)}</p>'


def _figure(shown: dict[str, bool], id_: str, png: Path | None, alt: str, missing: str) -> str:
    """The embedded PNG, or a note saying why there is none; records in `shown` which it was."""
    shown[id_] = png is not None
    return _img(png, id_, alt) if png is not None else _note(missing, f"{id_}-missing")


# ---------------------------------------------------------------------------------------------- sections


def metric_summary(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """[name, latest, step of latest, best, step of best] per `metric/*` key; best = min for FID-like."""
    out = []
    for key in plots.metric_keys(rows):
        steps, values = plots.series(rows, key)
        low = plots.lower_is_better(key)
        b = int(values.argmin() if low else values.argmax())
        out.append([key.removeprefix("metric/"), float(values[-1]), int(steps[-1]), float(values[b]),
                    int(steps[b])])
    return out


def _grid_section(run_dir: Path, cfg: dict[str, Any], grids: list[Path], out_dir: Path) -> str:
    if not grids:
        return _note("No sample grids yet (grids/grid-*.png is written every train.grid_every steps).", "grid-latest-missing")
    newest = grids[-1]
    from PIL import Image
    with Image.open(newest) as im:
        w, h = im.size
        rows = plots._guess_rows(im)
    scale = max(1, min(6, 900 // max(w, 1), 640 // max(h, 1)))  # integer upscaling keeps pixels crisp
    copy = out_dir / "grid-latest.png"
    atomic_write(copy, lambda f: f.write(newest.read_bytes()))
    step = plots.grid_step(newest)
    img = _img(copy, "grid-latest", f"Per-class samples of the EMA generator at step {step}", css_class="",
               style=f"width:{w * scale}px;max-width:100%;height:auto")
    names_html = ""
    names = class_names(run_dir)
    if names and rows > 1:
        shown = grid_classes(len(names), int(_get(cfg, "train.grid_classes") or rows))
        if len(shown) == rows:
            labels = "".join(f"<span>{html.escape(names[c])}</span>" for c in shown)
            names_html = f'<div class="names" style="height:{h * scale}px">{labels}</div>'
    caption = (f'<p class="sub" id="grid-latest-caption">{html.escape(newest.name)}: step {step:,}, '
               f"one row per class{'' if names_html else ' (class names unavailable: no checkpoint)'}</p>")
    return f'{caption}<div class="gridbox">{names_html}{img}</div>'


def _json_section(run_dir: Path) -> str:
    files = sorted(run_dir.glob("metrics-*.json"))
    if not files:
        return _note("No metrics-*.json files (write one with `condgan evaluate RUN --json RUN/metrics-NAME.json`).")
    parts = []
    for f in files:
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError) as e:
            parts.append(f"<h3>{html.escape(f.name)}</h3>" + _note(f"unreadable: {e}"))
            continue
        flat = [[k, v] for k, v in data.items() if not isinstance(v, dict)] if isinstance(data, dict) else []
        nested = [[f"{k}.{kk}", vv] for k, v in (data.items() if isinstance(data, dict) else [])
                  if isinstance(v, dict) for kk, vv in v.items() if not isinstance(vv, (dict, list))]
        rows = flat + nested[:50]
        parts.append(f"<h3>{html.escape(f.name)}</h3>" + (_table(["key", "value"], rows) if rows
                                                        else _note("empty")))
    return "".join(parts)


def parse_analyses(text: str | None, option: str = "--analyses") -> list[str]:
    """'all' (default), 'none', or a comma-separated subset of `condgan.analysis.ANALYSES`."""
    from .analysis import ANALYSES
    if text is None or text.strip() == "all":
        return list(ANALYSES)
    if text.strip() == "none":
        return []
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ANALYSES]
    if unknown:
        raise UsageError(f"{option}: unknown analysis '{unknown[0]}'; use all, none or some of {', '.join(ANALYSES)}.")
    return names


def _auto_device() -> Any:
    import torch
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _analysis_sections(run_dir: Path, cfg: dict[str, Any], out_dir: Path, wanted: list[str], evaluator: str,
                       seed: int, shown: dict[str, bool]) -> list[str]:
    """The report's analysis sections; each one that cannot be drawn says why in a note."""
    from .analysis import ANALYSES, class_fid, interpolation, neighbours, spectrum
    body: list[str] = []

    figure = functools.partial(_figure, shown)
    sampler, why_not = None, ""
    if any(n in wanted for n in ("interpolation", "neighbours", "spectrum")):
        from . import load
        try:
            sampler = load(run_dir, device=_auto_device())
        except (CondganError, KeyError, TypeError, ValueError, RuntimeError, OSError) as e:
            why_not = f"No generator to analyse ({type(e).__name__}: {' '.join(str(e).split())[:200]})."
    names = list(sampler.class_names) if sampler is not None else class_names(run_dir)
    classes = grid_classes(sampler.num_classes, min(6, sampler.num_classes)) if sampler is not None else []
    where = f" of the EMA generator at step {sampler.step:,}" if sampler is not None else ""

    real, why_no_data = None, ""
    if sampler is not None and any(n in wanted for n in ("neighbours", "spectrum")):
        from .config import config_from_dict
        from .metrics.evaluate import read_image_set
        try:
            data_cfg = config_from_dict(cfg).data if cfg else None
            source = data_cfg.source if data_cfg is not None else "?"
            real, _, _ = read_image_set(source, data_cfg)
        except (CondganError, OSError) as e:
            why_no_data = f"The training data cannot be read here ({' '.join(str(e).split())[:200]})."

    if "interpolation" in wanted:
        body.append(f"<h2>{ANALYSES['interpolation']}</h2>")
        z_png = class_png = None
        if sampler is not None:
            z_png, class_png = interpolation.write_figures(sampler, out_dir, classes, names, seed=seed)
        body.append(figure("analysis-interp-z", z_png, f"Linear interpolation in z at a fixed class{where}; the "
                           "first and last columns are the direct samples of the two seeds", why_not))
        body.append(figure("analysis-interp-class", class_png, f"Interpolation of the class embedding at a fixed "
                           f"z{where}", why_not or "This generator has no class embedding to interpolate."))
    if "neighbours" in wanted:
        body.append(f"<h2>{ANALYSES['neighbours']}</h2>")
        png = None
        if sampler is not None and real is not None:
            from .metrics.weights import cache_dir
            net, desc = neighbours.feature_space(evaluator, sampler.device, _get(cfg, "train.evaluator"),
                                                 sampler.num_classes)
            pool, _ = neighbours.subset(real, None, NEIGHBOURS_POOL, seed)
            png, _ = neighbours.write_figure(sampler, pool, out_dir, classes, net, desc, names, k=NEIGHBOURS_K,
                                             seed=seed, cache=cache_dir() / "stats")
            body.append(f'<p class="sub" id="analysis-neighbours-caption">One generated sample per class (framed) '
                        f"and its {NEIGHBOURS_K} nearest of {len(pool):,} training images in {html.escape(desc)} "
                        "features, nearest first, with distances. Neighbours that copy the sample would mean "
                        "memorisation.</p>")
        body.append(figure("analysis-neighbours", png, f"Generated samples and their nearest training images{where}",
                           why_not or why_no_data))
    if "class-fid" in wanted:
        body.append(f"<h2>{ANALYSES['class-fid']}</h2>")
        found = class_fid.write_figure(run_dir, out_dir, names)
        if found is not None:
            body.append(f'<p class="sub" id="analysis-class-fid-caption">From {html.escape(found[1].source.name)}: '
                        f"{len(found[1].values)} classes, worst first.</p>")
        body.append(figure("analysis-class-fid", found[0] if found else None, "Per-class FID, sorted, worst first",
                           "No per-class FID (run `condgan evaluate RUN --metrics intra_fid --json "
                           "RUN/metrics-intra.json`)."))
    if "spectrum" in wanted:
        body.append(f"<h2>{ANALYSES['spectrum']}</h2>")
        png = None
        if sampler is not None and real is not None:
            png, _, _ = spectrum.write_figure(sampler, real, out_dir, seed=seed)
        body.append(figure("analysis-spectrum", png, f"Mean log power spectrum of real and generated images{where}",
                           why_not or why_no_data))
    if wanted:
        items = "".join(f'<li><a href="#{k if shown.get(k) else k + "-missing"}" data-analysis="{k}">'
                        f"{html.escape(v)}</a>{'' if shown.get(k) else ' (not drawn)'}</li>"
                        for k, v in ANALYSIS_FIGURES.items() if k in shown)
        body.insert(0, f"<h2>Analyses</h2><ul class='promised' id='promised-analyses'>{items}</ul>")
    return body


def write_report(run_dir: Path | str, out: Path | str | None = None, analyses: str | list[str] | None = "all",
                 evaluator: str = "auto", seed: int = 0) -> Path:
    """Write the HTML report of `run_dir` to `out` (default RUN/report/index.html) and return its path.

    The figures are written as PNGs next to the HTML and embedded in it, so the HTML alone is complete.
    `analyses`: 'all', 'none' or a list of `condgan.analysis.ANALYSES`; `evaluator`: the nearest neighbours'
    feature space ('auto', 'pixels', 'inception' or a domain evaluator file; see `analysis.neighbours`).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"Run folder '{run_dir}' does not exist.")
    out = Path(out) if out is not None else run_dir / "report" / "index.html"
    out_dir = out.parent
    out_dir.mkdir(parents=True, exist_ok=True)

    cfg_path = run_dir / "config.yaml"
    cfg = (yaml.safe_load(cfg_path.read_text()) or {}) if cfg_path.is_file() else {}
    rows = read_stats(run_dir / "stats.jsonl")
    train_rows = plots.training_rows(rows)
    grids = sorted((p for p in (run_dir / "grids").glob("grid-*.png") if plots.grid_step(p) is not None),
                   key=plots.grid_step)
    sweep_path = run_dir / "truncation_sweep.csv"
    sweep = read_csv(sweep_path) if sweep_path.is_file() else []

    # Header.
    steps_done = max((r["step"] for r in train_rows), default=0)
    planned = _get(cfg, "train.steps")
    speed = next((r["images_per_sec"] for r in reversed(train_rows) if "images_per_sec" in r), None)
    events = [r for r in rows if "event" in r]
    sub = [f"preset <b>{_fmt(cfg.get('preset') or '?')}</b>",
           f"steps {_fmt(steps_done)} / {_fmt(planned) if planned else '?'}",
           f"last speed {_fmt(speed)} images/s" if speed is not None else "speed unknown"]
    if events:
        sub.append(f"{len(events)} event(s): " + ", ".join(html.escape(f"{e['event']} @ {e['step']}") for e in events[:5]))
    desc = " ".join(str(cfg.get("description") or "").split())
    body = [f"<h1>condgan run: {html.escape(run_dir.resolve().name)}</h1>",
            f'<p class="sub">{html.escape(str(run_dir.resolve()))}</p>',
            f'<p class="sub">{" · ".join(sub)}</p>']
    if desc:
        body.append(f'<p class="sub">{html.escape(desc)}</p>')
    body.append("{promised}")  # filled in at the end, once we know which figures had data
    shown: dict[str, bool] = {}

    # Config.
    body.append("<h2>Configuration</h2>")
    pairs = [[k, _get(cfg, k)] for k in CONFIG_KEYS if _get(cfg, k) is not None]
    half = -(-len(pairs) // 2)  # two key/value columns: the table stays short
    cfg_rows = [pairs[i] + (pairs[i + half] if i + half < len(pairs) else ["", ""]) for i in range(half)]
    body.append(_table(["key", "value", "key", "value"], cfg_rows, css_class="config") if cfg_rows
                else _note("No config.yaml in the run folder."))

    figure = functools.partial(_figure, shown)

    # Losses.
    body.append("<h2>Losses</h2>")
    body.append(figure("plot-losses", plots.plot_losses(rows, out_dir / "losses.png"),
                       "Discriminator and generator losses and D outputs vs training step",
                       "No training rows in stats.jsonl yet."))

    # Metrics.
    body.append("<h2>Metrics during training</h2>")
    summary = metric_summary(rows)
    body.append(figure("plot-metrics", plots.plot_metrics(rows, out_dir / "metrics.png"),
                       "Evaluation metrics vs training step",
                       "No metrics logged during training (no metric/* rows in stats.jsonl)."))
    if summary:
        body.append('<div id="metrics-table">' + _table(["metric", "latest", "at step", "best", "at step"],
                                                        summary, [f"metric-{r[0]}" for r in summary]) + "</div>")
        body.append('<p class="sub">best = minimum for FID / KID / intra-FID, maximum otherwise.</p>')

    # Speed.
    body.append("<h2>Training speed</h2>")
    body.append(figure("plot-speed", plots.plot_speed(rows, out_dir / "speed.png"),
                       "Training throughput in images per second vs step", "No speed measurements logged."))

    # Grids.
    body.append("<h2>Newest per-class sample grid</h2>")
    body.append(_grid_section(run_dir, cfg, grids, out_dir))
    shown["grid-latest"] = bool(grids)
    body.append("<h2>Samples over time</h2>")
    body.append(figure("grid-timeline", plots.grid_timeline(grids, out_dir / "grid-timeline.png"),
                       "Sample grids at several training steps", "No sample grids yet."))

    # Truncation sweep.
    body.append("<h2>Truncation trade-off</h2>")
    png = plots.plot_truncation_curve(sweep, out_dir / "truncation.png") if sweep else None
    body.append(figure("plot-truncation", png, "Inception Score vs FID for several truncation values",
                       "No truncation_sweep.csv (run `condgan evaluate RUN --truncation-sweep`)."
                       if not sweep_path.is_file() else "truncation_sweep.csv has no usable rows."))
    if sweep:
        cols = [c for c in ("truncation", "fid", "is_mean", "is_std") if c in sweep[0]]
        body.append('<div id="truncation-table">' + _table(cols, [[r.get(c) for c in cols] for r in sweep]) + "</div>")

    # Evaluation JSONs.
    body.append("<h2>Evaluation results</h2>")
    body.append(_json_section(run_dir))

    # Analyses of the generator itself.
    wanted = analyses if isinstance(analyses, list) else parse_analyses(analyses)
    body += _analysis_sections(run_dir, cfg, out_dir, wanted, evaluator, seed, shown)

    items = "".join(f'<li><a href="#{k if shown.get(k) else k + "-missing"}" data-plot="{k}">{html.escape(v)}</a>'
                    f"{'' if shown.get(k) else ' (no data)'}</li>" for k, v in PLOTS.items())
    body[body.index("{promised}")] = f"<h2>Figures</h2><ul class='promised' id='promised-plots'>{items}</ul>"
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>condgan report: {html.escape(run_dir.resolve().name)}</title><style>{CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")
    return atomic_write(out, lambda f: f.write(page), text=True)
