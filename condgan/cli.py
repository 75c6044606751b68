"""The `condgan` command: train, sample, bench, presets."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml


def _train(args: argparse.Namespace) -> int:
    from .config import load_config, save_config
    from .training.loop import train
    preset = args.preset
    outdir = Path(args.outdir) if args.outdir else None
    if args.resume and outdir is not None and (outdir / "config.yaml").is_file():
        preset = str(outdir / "config.yaml")  # continue with the run's own resolved config (+ overrides)
    cfg = load_config(preset or "digits", args.overrides)
    outdir = outdir or Path("runs") / (cfg.preset or "run")
    if args.dry_run:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    ckpt = train(cfg, outdir, resume=args.resume, force=args.force, progress=not args.no_progress)
    print(f"Done: checkpoint {ckpt}\nSample with: condgan sample {outdir} --n 64 --out samples.png")
    return 0


def _parse_classes(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise SystemExit(f"--classes '{text}': expected comma-separated class ids such as 0,3,7") from None


def _sample(args: argparse.Namespace) -> int:
    import torch

    from . import load
    gen = load(args.checkpoint, device=args.device)
    classes = _parse_classes(args.classes) or list(range(gen.num_classes))
    labels = torch.tensor(classes).repeat_interleave(-(-args.n // len(classes)))[: args.n]
    images = gen.sample(labels, truncation=args.truncation, seed=args.seed)
    from .sample import write_samples
    used = sorted(set(labels.tolist()))
    write_samples(images, labels, Path(args.out), rows=len(used) if len(used) <= 32 else None)
    shown = ",".join(map(str, used)) if len(used) <= 20 else f"{len(used)} classes"
    print(f"Wrote {len(images)} images (classes {shown}) to {args.out}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .bench import bench
    result = bench(args.preset, args.overrides, steps=args.steps, warmup=args.warmup, device=args.device)
    print(json.dumps(result, indent=2) if args.json else
          "\n".join(f"{k:>16}: {v}" for k, v in result.items()))
    return 0


def _presets(args: argparse.Namespace) -> int:
    from .config import list_presets, load_config
    for name in list_presets():
        cfg = load_config(name)
        print(f"{name:22s} {cfg.description.strip().splitlines()[0] if cfg.description else ''}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="condgan", description="Train, sample and evaluate class-conditional GANs.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a GAN (default: the embedded digits preset)")
    t.add_argument("--preset", help="preset name (see `condgan presets`) or a YAML file; default digits")
    t.add_argument("--outdir", help="run folder (default runs/PRESET)")
    t.add_argument("--resume", action="store_true", help="continue the run in --outdir from its newest checkpoint")
    t.add_argument("--force", action="store_true", help="delete an existing run in --outdir and start afresh")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and stop")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.steps=2000")
    t.set_defaults(func=_train)

    s = sub.add_parser("sample", help="generate images of chosen classes")
    s.add_argument("checkpoint", help="run folder (newest checkpoint) or checkpoint file")
    s.add_argument("--n", type=int, default=64, help="number of images")
    s.add_argument("--classes", help="comma-separated class ids (default: all), cycled to fill --n")
    s.add_argument("--truncation", type=float, default=None, help="truncation threshold (default: none)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu")
    s.add_argument("--out", required=True, help="FILE.png (grid), FILE.npz (images+labels) or a folder")
    s.set_defaults(func=_sample)

    b = sub.add_parser("bench", help="time training steps: ms/step, images/s, peak memory")
    b.add_argument("--preset", default="digits")
    b.add_argument("--steps", type=int, default=20)
    b.add_argument("--warmup", type=int, default=5)
    b.add_argument("--device", default="auto")
    b.add_argument("--json", action="store_true")
    b.add_argument("overrides", nargs="*", metavar="key=value")
    b.set_defaults(func=_bench)

    pr = sub.add_parser("presets", help="list the presets")
    pr.set_defaults(func=_presets)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .config import ConfigError
    from .data import DataError
    from .training import CheckpointError, DivergenceError, RunExistsError, TrainingInterrupted
    try:
        return args.func(args)
    except (ConfigError, DataError, CheckpointError, RunExistsError) as e:
        print(f"condgan: error: {e}", file=sys.stderr)
        return 2
    except DivergenceError as e:
        print(f"condgan: error: {e}", file=sys.stderr)
        return 3
    except TrainingInterrupted as e:
        print(f"condgan: {e}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside training
        print("condgan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
