"""Labelled images from any source, and seeded, resumable batches of them on the training device
(`condgan prepare`, in prepare.py, makes the store that large data sets train from)."""

from .errors import DataError
from .images import LabelledImages
from .loader import MappedLoader, ResidentLoader, StreamingLoader, make_loader
from .sources import from_config, load_images

__all__ = ["DataError", "LabelledImages", "from_config", "load_images", "make_loader", "MappedLoader",
           "ResidentLoader", "StreamingLoader"]
