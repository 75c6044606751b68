"""The pictures a GAN user looks at besides the training curves, each a function of a loaded generator
(and, for some, the training images), callable alone and drawn by `condgan.plots`:

- `interpolation`: latent paths in z at a fixed class, and across classes at a fixed z;
- `neighbours`: the training images closest to generated samples in a feature space (memorisation?);
- `class_fid`: the per-class FIDs of an intra-FID evaluation, sorted;
- `spectrum`: the mean power spectrum of real against generated images.

`condgan report` runs them (`--analyses`); `condgan explore` uses the interpolation for its page.
"""
from __future__ import annotations

ANALYSES = {  # name -> what the report's section is called
    "interpolation": "Latent interpolation",
    "neighbours": "Nearest training images",
    "class-fid": "Per-class FID",
    "spectrum": "Power spectrum",
}
