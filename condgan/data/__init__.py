"""Labelled images from any source, and seeded, resumable batches of them on the training device."""

from .errors import DataError
from .loader import ResidentLoader, StreamingLoader, make_loader
from .sources import LabelledImages, load_images

__all__ = ["DataError", "LabelledImages", "load_images", "make_loader", "ResidentLoader", "StreamingLoader"]
