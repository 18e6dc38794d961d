"""A trained model as the evaluators see it: float images in [0, 1] in, logits out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from sthlib.checkpoint import load_model
from sthlib.data import load_dataset
from sthlib.models import SimilarityNet
from sthlib.specs import TrainSpec
from sthlib.train.augment import scale_inputs


class Classifier(nn.Module):
    """Wraps a SimilarityNet with its input scaling, so attacks work in [0, 1] pixel units."""

    def __init__(self, net: SimilarityNet, input_scale: str, num_classes: int, name: str = "") -> None:
        super().__init__()
        self.net = net.eval()
        self.input_scale = input_scale
        self.num_classes = num_classes
        self.name = name

    @property
    def in_channels(self) -> int:
        first_conv = next(m for m in self.net.modules() if isinstance(m, nn.Conv2d))
        return int(first_conv.in_channels)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def forward(self, x: Tensor) -> Tensor:
        return self.net(scale_inputs(x, self.input_scale))

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 500) -> Tensor:
        """Predicted classes of float images in [0, 1], in batches."""
        return torch.cat([self(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


@dataclass(frozen=True)
class LoadedModel:
    classifier: Classifier
    spec: TrainSpec | None  # the training spec, when the checkpoint records one
    dataset: str  # the task's dataset (test images come from here)
    color: str


def load_classifier(path: Path, device: str | torch.device = "cpu", name: str | None = None) -> LoadedModel:
    """A checkpoint written by the trainer (or any sthlib model checkpoint with a spec), ready to attack."""
    net, meta = load_model(Path(path), map_location=device)
    spec = TrainSpec.from_dict(meta["spec"]) if meta.get("spec") else None
    input_scale = meta.get("input_scale") or (spec.resolved_input_scale() if spec else "unit")
    dataset = meta.get("dataset") or (spec.dataset if spec else "")
    color = meta.get("color") or (spec.color if spec else ("gray" if meta["in_channels"] == 1 else "rgb"))
    classifier = Classifier(net, input_scale, int(meta["num_classes"]), name or Path(path).stem)
    return LoadedModel(classifier, spec, dataset, color)


def check_compatible(source: Classifier, target: Classifier, image_shape: tuple[int, ...]) -> None:
    """A transfer source must solve the same task: same classes and the same input shape."""
    if source.num_classes != target.num_classes:
        raise ValueError(
            f"source model {source.name!r} has {source.num_classes} classes, the target {target.name!r} has "
            f"{target.num_classes}: train the source on the same task"
        )
    if source.in_channels != target.in_channels:
        raise ValueError(
            f"source model {source.name!r} takes {source.in_channels}-channel images, the target takes "
            f"{target.in_channels}: use a source trained with the same color mode"
        )
    try:
        with torch.no_grad():
            source(torch.zeros((1, *image_shape), device=source.device))
    except RuntimeError as e:
        raise ValueError(f"source model {source.name!r} does not accept images of shape {image_shape}: {e}") from None


def evaluation_images(dataset: str, color: str, n_images: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The test split (uint8, labels), or a seeded random subset of n_images of it (sorted indices)."""
    images, labels = load_dataset(dataset, "test", color)
    if n_images is None or n_images >= len(images):
        return images, labels
    picked = np.sort(np.random.default_rng(seed).choice(len(images), size=n_images, replace=False))
    return images[picked], labels[picked]
