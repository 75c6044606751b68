"""Training: the loop, EMA, checkpoints and logging."""
from .checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint, save_checkpoint
from .guards import DivergenceError, TrainingInterrupted
from .loop import RunExistsError, Trainer, train, train_step

__all__ = ["CheckpointError", "DivergenceError", "RunExistsError", "Trainer", "TrainingInterrupted",
           "load_checkpoint", "resolve_checkpoint", "save_checkpoint", "train", "train_step"]
