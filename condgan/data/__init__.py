"""Labelled images from any source, and seeded, resumable batches of them on the training device."""

from .errors import DataError
from .images import LabelledImages
from .loader import ResidentLoader, StreamingLoader, make_loader
from .sources import from_config, load_images

__all__ = ["DataError", "LabelledImages", "from_config", "load_images", "make_loader", "ResidentLoader",
           "StreamingLoader"]
