"""What a training run reports per epoch and at its end."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class EpochMetrics:
    """Metrics after `epoch` epochs (0: the untrained model). train_* are running means over the epoch's batches
    in training mode; valid_* and test_* are full passes in eval mode. Losses are cross-entropies in nats."""

    epoch: int
    lr: float | None
    valid_loss: float
    valid_acc: float
    test_loss: float
    test_acc: float
    train_loss: float | None = None
    train_acc: float | None = None
    reg_loss: float | None = None  # mean L_reg over the epoch's pair batches (None: unregularized)
    reg_eval_loss: float | None = None  # L_reg in eval mode on a fixed set of pairs (comparable across epochs)
    sim_corr: float | None = None  # Pearson correlation of predicted and target similarity on those fixed pairs
    layer_weights: list[float] = field(default_factory=list)  # softmax(w): the learned weight of each tap
    seconds: float = 0.0
    images_per_s: float = 0.0  # classification + regularization images per second of training

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    best_epoch: int  # the epoch whose weights are kept (lowest validation loss, 0 = untrained)
    history: list[EpochMetrics]

    @property
    def best(self) -> EpochMetrics:
        return next(m for m in self.history if m.epoch == self.best_epoch)

    @property
    def last(self) -> EpochMetrics:
        return self.history[-1]
