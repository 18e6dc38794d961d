"""Hooks into the training loop: progress, per-epoch checkpoints, a stop flag (the worker hooks in here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sthlib.train.metrics import EpochMetrics, TrainResult
    from sthlib.train.trainer import Trainer


@dataclass(frozen=True)
class StepProgress:
    epoch: int  # 0-based epoch in progress
    epochs: int
    step: int  # steps done in this epoch
    steps: int  # steps per epoch

    @property
    def fraction(self) -> float:
        """Fraction of the whole run done."""
        return (self.epoch + self.step / self.steps) / self.epochs


class TrainingStopped(Exception):
    """Raised between batches when a callback asks to stop; resume from the last epoch checkpoint."""

    def __init__(self, epoch: int) -> None:
        super().__init__(f"training stopped during epoch {epoch + 1}; resume from the last epoch checkpoint")
        self.epoch = epoch


class Callback:
    """Override what you need. should_stop() is polled between batches."""

    def on_train_start(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer, progress: StepProgress) -> None: ...

    def on_epoch_end(self, trainer: Trainer, metrics: EpochMetrics) -> None: ...

    def on_train_end(self, trainer: Trainer, result: TrainResult) -> None: ...

    def should_stop(self) -> bool:
        return False


class EpochCheckpoint(Callback):
    """Writes the full training state after every epoch (atomically) so a run can resume where it stopped."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_epoch_end(self, trainer: Trainer, metrics: EpochMetrics) -> None:
        trainer.save_state(self.path)


class StopWhen(Callback):
    """Stops training as soon as `flag()` returns True (for example: the job was cancelled)."""

    def __init__(self, flag: Callable[[], bool]) -> None:
        self.flag = flag

    def should_stop(self) -> bool:
        return self.flag()
