"""Published models: the papers' own checkpoints as ordinary condgan run folders.

`condgan import FORMAT ...` reads StudioGAN's `.pth` checkpoints with their YAML, BigGAN-PyTorch's state
dicts, or R3GAN's `.pkl` snapshots (without running any pickled code), converts them into condgan's networks
(`studiogan`, `biggan_pytorch`, `r3gan`: one module per upstream format) and writes a run folder that
`condgan sample`, `evaluate`, `report`, `export`, `condgan.load()` and `condgan train --resume` use unchanged.
The checkpoint holds the networks given and no optimiser state: fine-tuning starts fresh optimisers.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..config import save_config
from ..io import write_checkpoint
from .base import Imported, PublishedModelError, check_state

FORMATS = ("studiogan", "biggan-pytorch", "r3gan")

__all__ = ["FORMATS", "Imported", "PublishedModelError", "check_state", "convert", "write_run"]


def write_run(imp: Imported, out: str | Path, force: bool = False) -> Path:
    """Write `imp` as a run folder at `out`: config.yaml and checkpoints/checkpoint-STEP.pt (G_ema, and G
    and D when imported). Built in a temporary folder beside `out` and renamed into place, so an import that
    fails leaves nothing behind. Returns the checkpoint's path."""
    from ..training.checkpoint import checkpoint_name
    from ..training.loop import prepare_run_dir
    out = Path(out)
    prepare_run_dir(out, resume=False, force=force, check_only=True)  # refuses an existing run unless --force
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.importing-", dir=out.parent))
    try:
        ckpt = tmp / "checkpoints" / checkpoint_name(imp.step)
        nets = {k: v for k, v in (("G_ema", imp.G_ema), ("G", imp.G), ("D", imp.D)) if v is not None}
        write_checkpoint({"step": imp.step, **nets, "config": imp.cfg.to_dict(), "data": imp.data,
                          "imported": imp.provenance}, ckpt)
        save_config(imp.cfg, tmp / "config.yaml")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PublishedModelError(f"Could not write the run folder '{out}': {e.strerror or e}. Nothing was left "
                                  "behind; free space (or fix the folder) and import again.") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "checkpoints" / ckpt.name


def convert(fmt: str, **kwargs: Any) -> Imported:
    """Dispatch to the format's importer (`condgan import FORMAT`)."""
    if fmt == "studiogan":
        from .studiogan import convert as run
    elif fmt == "biggan-pytorch":
        from .biggan_pytorch import convert as run
    elif fmt == "r3gan":
        from .r3gan import convert as run
    else:
        raise PublishedModelError(f"Unknown format '{fmt}'; known: {', '.join(FORMATS)}.")
    return run(**kwargs)
