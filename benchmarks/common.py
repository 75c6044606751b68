"""What every benchmark does, in one place: resolve its arms into configs, train them with the same budget and
seed, time them, count the FLOPs of their training step, collect their curves, write the JSON, draw the
figures and re-render the experiment's part of the results table from that JSON.

An experiment module (``benchmarks/NAME.py``) holds only data and the parts that differ: ``ARMS`` (each a
preset or a preset plus overrides), ``SCALES`` (the shared budget per scale, and ``smoke``), ``prepare`` (real
features, classifiers), ``evaluate`` (one trained arm -> numbers), ``COLUMNS`` (the table) and ``figures``.
Every experiment is run the same way::

    python -m benchmarks.NAME [--scale cpu|gpu] [--seed S] [--smoke] [--dry-run] [--data SOURCE]

``--smoke`` shrinks everything to seconds and writes to a temporary folder, never to ``benchmarks/results``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import torch

from condgan.config import flat_config
from condgan.environment import numeric_environment

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
FIGURES = ROOT / "docs" / "figures"
TABLE = ROOT / "benchmarks" / "README.md"
README = ROOT / "README.md"             # its results digest is rendered from the same JSON files
EXPERIMENTS = ("r3gan_stacked_mnist", "reacgan_vs_acgan", "biggan_cifar10", "digits_conditioning")
SHARED_DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / ".cache" / "benchmarks"   # git-ignored: decoded data, trained evaluators
MAX_CURVE_POINTS = 200


@dataclass
class Arm:
    """One arm of an experiment: a preset (the experiment's default when None) plus overrides."""
    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None
    paper: str = ""                  # the paper's figure for this arm, shown beside ours


@dataclass
class Context:
    """What one invocation works with; handed to the experiment's prepare / evaluate / figures."""
    name: str
    scale: str
    seed: int
    smoke: bool
    data: str
    preset: str
    overrides: dict[str, Any]        # the shared budget (same for every arm)
    eval: dict[str, Any]             # evaluation settings of this scale
    runs: Path                       # run folders, one per arm
    out: Path                        # where the JSON goes
    figures: Path
    device: torch.device = torch.device("cpu")
    state: dict[str, Any] = field(default_factory=dict)   # what prepare() loaded (features, classifiers)


def arm_config(ctx: Context, arm: Arm):
    """The arm's config: its preset (or the experiment's), the shared budget, then the arm's own overrides.
    The arm's keys come last, so an arm can only differ in what defines it, never in budget."""
    from condgan.config import load_config
    clash = sorted(set(arm.overrides) & set(ctx.overrides))
    if clash:
        raise ValueError(f"arm '{arm.name}' overrides budget keys {clash}: every arm must share the budget")
    return load_config(arm.preset or ctx.preset, {**ctx.overrides, "data.source": ctx.data,
                                                  "train.seed": ctx.seed, **arm.overrides})


# ----------------------------------------------------------------------------------------------------------
# command line

def parse_args(exp: ModuleType, argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"python -m benchmarks.{exp.NAME}", description=exp.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=["cpu", "gpu"], default="cpu",
                   help="cpu: <= 60 CPU-minutes of training on 2 cores; gpu: full presets, papers' budgets")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="seconds-long run into a temporary folder (tests, CI)")
    p.add_argument("--dry-run", action="store_true", help="print the arms' resolved configs and budgets, stop")
    p.add_argument("--data", help=f"data source (default: {exp.DEFAULT_DATA})")
    p.add_argument("--runs", help="folder for the run folders (default runs/benchmarks/NAME/SCALE-seedS)")
    p.add_argument("--device", default="auto")
    p.add_argument("--reproduce", type=int, metavar="STEPS",
                   help="retrain each arm's first STEPS steps and compare with the committed result (bitwise in "
                        "its numeric environment, by its fingerprint on another CPU; benchmarks/reproduce.py)")
    p.add_argument("--fingerprint", action="store_true",
                   help="measure the committed result's fingerprint and cross-CPU tolerance, store them in its JSON")
    p.add_argument("--fingerprint-run", nargs=2, help=argparse.SUPPRESS)  # --fingerprint's child: PATH STEPS
    p.add_argument("--threads", type=int, help=argparse.SUPPRESS)  # ... with another thread count
    return p.parse_args(argv)


def make_context(exp: ModuleType, args: argparse.Namespace) -> Context:
    from condgan.training.loop import pick_device
    scale = exp.SCALES[args.scale]
    overrides, evaluation = dict(scale["overrides"]), dict(scale["eval"])
    if args.smoke:
        overrides.update(exp.SCALES["smoke"]["overrides"])
        evaluation.update(exp.SCALES["smoke"]["eval"])
    tag = f"{args.scale}-seed{args.seed}" + ("-smoke" if args.smoke else "")
    if args.smoke:
        out = Path(tempfile.mkdtemp(prefix=f"condgan-smoke-{exp.NAME}-"))
        runs, figures = out / "runs", out / "figures"
    else:
        out = RESULTS
        runs = Path(args.runs) if args.runs else ROOT / "runs" / "benchmarks" / exp.NAME / tag
        figures = FIGURES
    data = args.data or str(exp.DEFAULT_DATA)
    return Context(exp.NAME, args.scale, args.seed, args.smoke, data, scale["preset"], overrides, evaluation,
                   runs, out, figures, pick_device(args.device))


def result_name(name: str, scale: str, seed: int) -> str:
    """benchmarks/results/NAME.json for the default (cpu, seed 0); NAME-gpu-seed1.json etc. otherwise."""
    suffix = "".join(s for s in (f"-{scale}" if scale != "cpu" else "", f"-seed{seed}" if seed else ""))
    return f"{name}{suffix}.json"


def budget(cfg) -> dict[str, Any]:
    t = cfg.train
    return {"steps": t.steps, "batch_size": t.batch_size, "d_steps": t.d_steps,
            "kimg": round(t.steps * t.batch_size / 1000, 1), "g_ch": cfg.G.ch, "d_ch": cfg.D.ch,
            "g_widths": list(cfg.G.widths), "arch": cfg.G.arch}


def dry_run(exp: ModuleType, ctx: Context) -> None:
    """Print what a run would do: each arm's resolved config (as overrides over defaults) and the budget."""
    from condgan.config import Config
    defaults = flat_config(Config().to_dict())
    print(f"# {exp.NAME} --scale {ctx.scale} --seed {ctx.seed}{' --smoke' if ctx.smoke else ''}: {exp.TITLE}")
    print(f"data: {ctx.data}\nruns: {ctx.runs}\nevaluation: {json.dumps(ctx.eval)}")
    for r in (r for r in load_results(exp.NAME) if r["scale"] == ctx.scale and not r["smoke"]):
        print(f"its committed run (seed {r['seed']}, {r['environment']['device']}): training "
              f"{_span(minutes(r, 'train'))} min per arm, evaluation {_span(minutes(r, 'eval'))} min per arm")
    for arm in exp.ARMS:
        cfg = arm_config(ctx, arm)
        diff = {k: v for k, v in flat_config(cfg.to_dict()).items() if defaults.get(k) != v and k != "description"}
        print(f"\n## arm {arm.name} (preset {arm.preset or ctx.preset}; paper: {arm.paper or '-'})")
        print(f"budget: {json.dumps(budget(cfg))}")
        for k, v in diff.items():
            print(f"  {k}={json.dumps(v)}")


# ----------------------------------------------------------------------------------------------------------
# training, timing, FLOPs, curves

def train_arm(cfg, run: Path) -> dict[str, Any]:
    """Train (or finish, or reuse) one arm. A divergence is a result, not a failure: its step is recorded."""
    from condgan.training import DivergenceError
    from condgan.training.checkpoint import list_checkpoints
    from condgan.training.loop import train
    done = run / "train.json"
    if done.is_file():
        return json.loads(done.read_text())
    resume = (run / "checkpoints").is_dir() and bool(list_checkpoints(run / "checkpoints"))
    start = time.time()
    diverged = None
    try:
        train(cfg, run, resume=resume, force=not resume and run.exists(), progress=False)
    except DivergenceError as e:
        m = re.search(r"at step (\d+)", str(e))
        rows = read_stats(run)
        diverged = {"step": int(m.group(1)) if m else (rows[-1]["step"] if rows else 0), "message": str(e)}
    rows = [r for r in read_stats(run) if "sec_per_step" in r]
    steady = rows[1:] or rows  # the first interval carries start-up costs
    sec = sum(r["sec_per_step"] for r in steady) / max(len(steady), 1)
    out = {"wall_seconds": round(time.time() - start, 1), "steps_done": rows[-1]["step"] if rows else 0,
           "sec_per_step": round(sec, 4), "steps_per_sec": round(1 / sec, 3) if sec else None,
           "diverged": diverged}
    done.write_text(json.dumps(out, indent=2) + "\n")
    return out


def read_stats(run: Path) -> list[dict[str, Any]]:
    path = run / "stats.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def curves(run: Path, keys: list[str]) -> dict[str, list[list[float]]]:
    """{key: [[step, value], ...]} from stats.jsonl, thinned to at most MAX_CURVE_POINTS points per key."""
    out = {}
    for key in keys:
        pts = [[r["step"], r[key]] for r in read_stats(run) if key in r and r[key] is not None
               and math.isfinite(r[key])]
        stride = max(1, math.ceil(len(pts) / MAX_CURVE_POINTS))
        out[key] = pts[::stride] + ([pts[-1]] if pts and (len(pts) - 1) % stride else [])
    return out


def step_gflop(cfg) -> float:
    """GFLOP of one training step (D steps + G step, double backward included), counted as `condgan bench`
    counts them, on a freshly built trainer with the run's data shape."""
    from condgan.bench import step_flops
    from condgan.data import from_config, make_loader
    from condgan.training.loop import Trainer
    data = from_config(cfg.data)
    loader = make_loader(data, cfg.train.batch_size, torch.device("cpu"), hflip=cfg.data.hflip, seed=0,
                         resident="yes")
    t = Trainer.build(cfg, data.num_classes, data.resolution, data.channels, torch.device("cpu"))
    try:
        return step_flops(t, loader) / 1e9
    finally:
        loader.close()


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    from condgan.training.checkpoint import list_checkpoints
    return list_checkpoints(run / "checkpoints") if (run / "checkpoints").is_dir() else []


# ----------------------------------------------------------------------------------------------------------
# the whole run

def run(exp: ModuleType, argv: list[str] | None = None) -> dict[str, Any] | None:
    args = parse_args(exp, argv)
    ctx = make_context(exp, args)
    if args.dry_run:
        dry_run(exp, ctx)
        return None
    if args.threads:
        ctx.overrides["train.threads"] = args.threads
    if args.fingerprint_run:
        from benchmarks.reproduce import fingerprint_curves
        path, steps = args.fingerprint_run
        Path(path).write_text(json.dumps(fingerprint_curves(exp, ctx, int(steps))))
        return None
    if args.fingerprint:
        from benchmarks.reproduce import write_fingerprint
        raise SystemExit(write_fingerprint(exp, ctx))
    if args.reproduce is not None:
        from benchmarks.reproduce import reproduce
        raise SystemExit(reproduce(exp, ctx, args.reproduce))
    torch.manual_seed(ctx.seed)
    command = f"python -m benchmarks.{exp.NAME} --scale {ctx.scale} --seed {ctx.seed}" + \
        (" --smoke" if ctx.smoke else "") + (f" --data {args.data}" if args.data else "")
    print(f"{command}\nruns in {ctx.runs}", flush=True)
    env = environment(ctx)  # the code that trains: taken before training, not when the JSON is written
    exp.prepare(ctx)
    arms: dict[str, Any] = {}
    for arm in exp.ARMS:
        cfg = arm_config(ctx, arm)
        folder = ctx.runs / arm.name
        print(f"[{arm.name}] training {budget(cfg)}", flush=True)
        trained = train_arm(cfg, folder)
        gflop = step_gflop(cfg)
        speed = {"gflop_per_step": round(gflop, 3),
                 "gflop_per_sec": round(gflop * trained["steps_per_sec"], 2) if trained["steps_per_sec"] else None}
        print(f"[{arm.name}] evaluating", flush=True)
        start = time.time()
        metrics = exp.evaluate(ctx, arm, folder, cfg, trained)
        arms[arm.name] = {"preset": arm.preset or ctx.preset, "overrides": arm.overrides, "paper": arm.paper,
                          "train": trained, "speed": speed, "metrics": metrics,
                          "eval_seconds": round(time.time() - start, 1),
                          "curves": curves(folder, exp.CURVE_KEYS)}
        print(f"[{arm.name}] {json.dumps({**trained, **speed, **_scalars(metrics)})}", flush=True)
    result = {"experiment": exp.NAME, "title": exp.TITLE, "smoke": ctx.smoke, "scale": ctx.scale,
              "seed": ctx.seed, "command": command, "data": portable(ctx.data), "budget": budget(arm_config(ctx, exp.ARMS[0])),
              "shared_overrides": ctx.overrides, "eval": ctx.eval, "environment": env,
              "arms": arms}
    if ctx.device.type == "cpu" and not ctx.smoke:  # what --reproduce checks on another CPU
        from benchmarks.reproduce import make_fingerprint
        result["fingerprint"] = make_fingerprint(exp, ctx)
    result["figures"] = [_rel(p) for p in exp.figures(ctx, result)]
    ctx.out.mkdir(parents=True, exist_ok=True)
    path = ctx.out / result_name(exp.NAME, ctx.scale, ctx.seed)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    if not ctx.smoke:
        update_table(exp)
        print(f"updated {TABLE}")
    else:  # a smoke result is never mixed into the real table: rendered beside its JSON only
        (ctx.out / "table.md").write_text(render_section(exp, [result]))
    return result


def portable(text: str) -> str:
    """A data source as it may be committed: paths inside or beside the checkout made relative to it."""
    return text.replace(str(ROOT.parent) + "/", "../").replace(str(ROOT) + "/", "")


def _scalars(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if isinstance(v, (int, float, str)) or v is None}


def _rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def environment(ctx: Context) -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                    capture_output=True, text=True).stdout.strip())
    except OSError:
        commit, dirty = "", None
    dev = torch.cuda.get_device_name(ctx.device) if ctx.device.type == "cuda" else \
        f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    out = {"device": dev, "torch": torch.__version__, "git_commit": commit, "uncommitted_changes": dirty,
           "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    if ctx.device.type == "cpu":  # what decides the rounding: bitwise reproduction holds only within it
        numeric = numeric_environment()
        out["numeric"] = {**numeric, "threads": ctx.overrides.get("train.threads") or numeric["threads"]}
    return out


# ----------------------------------------------------------------------------------------------------------
# the results table: benchmarks/README.md, between markers, rendered only from JSON files

def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 10 ** digits else f"{v:,.0f}"
    return str(v)


def render_section(exp: ModuleType, results: list[dict[str, Any]]) -> str:
    """The experiment's table: one row per (result file, arm), the paper's figure beside ours."""
    columns: list[tuple[str, Callable[[dict], Any]]] = exp.COLUMNS
    head = ["arm", "scale, seed", *[c for c, _ in columns], "paper", "diverged", "steps/s", "GFLOP/s"]
    lines = [f"Command: `python -m benchmarks.{exp.NAME}` (GPU size: `--scale gpu`).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    if not results:
        for arm in exp.ARMS:
            lines.append("| " + " | ".join([arm.name, "not yet run", *["–"] * len(columns), arm.paper or "–",
                                            "–", "–", "–"]) + " |")
        return "\n".join(lines) + "\n"
    for r in results:
        for name, a in r["arms"].items():
            d = a["train"]["diverged"]
            cells = [name, f"{r['scale']}{' smoke' if r['smoke'] else ''}, {r['seed']}",
                     *[fmt(f(a)) for _, f in columns], a["paper"] or "–",
                     f"at step {d['step']:,}" if d else "no", fmt(a["train"]["steps_per_sec"]),
                     fmt(a["speed"]["gflop_per_sec"])]
            lines.append("| " + " | ".join(cells) + " |")
    b = results[0]["budget"]
    lines += ["", f"Budget per arm: {b['steps']:,} G steps × batch {b['batch_size']} ({b['kimg']} kimg), "
              f"{b['d_steps']} D step(s) per G step. " + "; ".join(
                  f"{r['scale']} seed {r['seed']}: run on {r['environment']['device']}, {r['environment']['date']} "
                  f"(commit {r['environment']['git_commit'][:8]})" for r in results) + "."]
    lines += render_spread(exp, results)
    figs = sorted({f for r in results for f in r.get("figures", [])})
    lines += [""] + [f"![{Path(f).stem}](../{f})" for f in figs if not Path(f).is_absolute()]
    return "\n".join(lines) + "\n"


def render_spread(exp: ModuleType, results: list[dict[str, Any]]) -> list[str]:
    """Where one scale has runs at several seeds: each of the experiment's SPREAD figures per arm, at every
    seed, and its range (largest minus smallest): the run-to-run spread a rerun should fall within."""
    out = []
    for scale in sorted({r["scale"] for r in results if not r["smoke"]}):
        runs = sorted((r for r in results if r["scale"] == scale and not r["smoke"]), key=lambda r: r["seed"])
        if len(runs) < 2 or not getattr(exp, "SPREAD", None):
            continue
        seeds = [r["seed"] for r in runs]
        out += ["", f"Run-to-run spread ({scale} scale, seeds {', '.join(map(str, seeds))}): range = largest − "
                    "smallest over the seeds.", "",
                "| arm | figure | " + " | ".join(f"seed {s}" for s in seeds) + " | range |",
                "|" + "---|" * (len(seeds) + 3)]
        for name in runs[0]["arms"]:
            for label, f in exp.SPREAD:
                vals = [f(r["arms"][name]) if name in r["arms"] else None for r in runs]
                known = [v for v in vals if v is not None]
                rng = fmt(max(known) - min(known)) if len(known) > 1 else "–"
                out.append(f"| {name} | {label} | " + " | ".join(fmt(v) for v in vals) + f" | {rng} |")
    return out


def minutes(result: dict[str, Any], part: str) -> list[float]:
    """Each arm's measured minutes of `part` ('train' or 'eval') in a result (eval: recorded since 2026-11-30)."""
    secs = [a["train"]["wall_seconds"] if part == "train" else a.get("eval_seconds") for a in result["arms"].values()]
    return [x / 60 for x in secs if x is not None]


def _span(xs: list[float], digits: int = 2) -> str:
    if not xs:
        return "not recorded"
    lo, hi = fmt(min(xs), digits), fmt(max(xs), digits)
    return lo if lo == hi else f"{lo}–{hi}"


def render_sizing() -> str:
    """benchmarks/README.md's sizing table, from each experiment's CPU-scale results (every seed): what every
    arm shares (from the default run), its step's FLOPs and the measured times, so no time is copied by hand."""
    head = ["experiment", "network (all arms)", "GFLOP / step", "ms / step in the run", "steps × batch",
            "training min / arm", "arms", "seeds", "evaluation min / arm"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in EXPERIMENTS:
        r = default_run(name)
        if r is None:
            continue
        runs = sorted((x for x in load_results(name) if x["scale"] == "cpu" and not x["smoke"]),
                      key=lambda x: x["seed"])
        b = r["budget"]
        shared = r["shared_overrides"]
        net = f"{b['arch']} ch {b['g_ch']}" + (", no attention" if shared.get("G.attn_res", 0) is None else "") + \
            f", {b['d_steps']} D step(s), " + ("NHWC" if shared.get("train.channels_last") else "NCHW")
        arms = [a for x in runs for a in x["arms"].values()]
        cells = [f"`{name}`", net, _span([a["speed"]["gflop_per_step"] for a in arms], 3),
                 _span([a["train"]["sec_per_step"] * 1000 for a in arms], 3), f"{b['steps']:,} × {b['batch_size']}",
                 _span([m for x in runs for m in minutes(x, "train")]), str(len(r["arms"])),
                 ", ".join(str(x["seed"]) for x in runs), _span([m for x in runs for m in minutes(x, "eval")])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def save_figure(ctx: Context, fig) -> Path:
    """Write an experiment's figure to docs/figures/NAME-SCALE-seedS[-smoke].png (the run's folder for a
    smoke run) and close it."""
    import matplotlib.pyplot as plt
    path = ctx.figures / f"{ctx.name}-{ctx.scale}-seed{ctx.seed}{'-smoke' if ctx.smoke else ''}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def load_results(name: str) -> list[dict[str, Any]]:
    files = sorted(RESULTS.glob(f"{name}.json")) + sorted(RESULTS.glob(f"{name}-*.json"))
    return [json.loads(p.read_text()) for p in files]


def default_run(name: str) -> dict[str, Any] | None:
    """The experiment's default result (cpu scale, seed 0), which the digest and the sizing table show."""
    return next((r for r in load_results(name) if r["scale"] == "cpu" and r["seed"] == 0 and not r["smoke"]), None)


def update_table(exp: ModuleType, table: Path = TABLE, readme: Path = README) -> None:
    """Re-render the experiment's block of the results table, and the main README's digest, from the JSON."""
    replace_block(table, exp.NAME, render_section(exp, load_results(exp.NAME)))
    replace_block(table, "sizing", render_sizing())
    replace_block(readme, "summary", render_summary())


def render_summary() -> str:
    """The main README's digest: each experiment's default run (cpu, seed 0), one row per arm with the
    experiment's HEADLINE columns (under their short labels) beside the paper's figure. The full tables are
    in benchmarks/README.md."""
    lines = ["| experiment | arm | condgan (CPU scale, seed 0) | paper |", "|---|---|---|---|"]
    for name in EXPERIMENTS:
        exp = importlib.import_module(f"benchmarks.{name}")
        run = default_run(name)
        columns = [(exp.HEADLINE[title], f) for title, f in exp.COLUMNS if title in exp.HEADLINE]
        for arm in exp.ARMS:
            a = run["arms"].get(arm.name) if run else None
            ours = "; ".join(f"{title}: {fmt(f(a))}" for title, f in columns) if a else "not yet run"
            lines.append(f"| `{name}` | {arm.name} | {ours} | {arm.paper or '–'} |")
    return "\n".join(lines) + "\n"


def replace_block(path: Path, name: str, body: str) -> None:
    """Replace the text between `<!-- results:NAME -->` and `<!-- /results:NAME -->` in `path`."""
    begin, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
    text = path.read_text()
    if begin not in text or end not in text:
        raise ValueError(f"{path}: markers {begin} ... {end} missing")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{body}{end}{tail}")


def main(exp: ModuleType, argv: list[str] | None = None) -> int:
    run(exp, argv if argv is not None else sys.argv[1:])
    return 0
