"""Training: ``Trainer(spec).fit()``, callbacks, metrics and the learning-rate schedule."""

from sthlib.train.callbacks import Callback, EpochCheckpoint, StepProgress, StopWhen, TrainingStopped
from sthlib.train.metrics import EpochMetrics, TrainResult
from sthlib.train.schedule import learning_rate
from sthlib.train.trainer import Trainer, resolve_device

__all__ = [
    "Callback",
    "EpochCheckpoint",
    "EpochMetrics",
    "StepProgress",
    "StopWhen",
    "TrainResult",
    "Trainer",
    "TrainingStopped",
    "learning_rate",
    "resolve_device",
]
