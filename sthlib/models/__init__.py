"""Architectures: ``build_model(arch, in_channels, num_classes)`` over a registry of factories."""

from __future__ import annotations

from collections.abc import Callable

from sthlib.models.base import SimilarityNet
from sthlib.models.resnet import BasicBlock, Bottleneck, ResNet
from sthlib.models.small_cnn import SmallCNN

__all__ = ["ARCHITECTURES", "SimilarityNet", "build_model", "register_architecture"]

Factory = Callable[[int, int], SimilarityNet]  # (in_channels, num_classes) -> model
ARCHITECTURES: dict[str, Factory] = {}


def register_architecture(name: str) -> Callable[[Factory], Factory]:
    def add(factory: Factory) -> Factory:
        ARCHITECTURES[name] = factory
        return factory

    return add


@register_architecture("resnet18")
def resnet18(in_channels: int, num_classes: int) -> SimilarityNet:
    return ResNet(BasicBlock, (2, 2, 2, 2), in_channels, num_classes)


@register_architecture("resnet18_narrow")
def resnet18_narrow(in_channels: int, num_classes: int) -> SimilarityNet:
    """ResNet18 at a quarter of the widths (16, 32, 64, 128): the paper's stem, sections and taps at about 1/16 of
    the compute, for protocols that must finish on a CPU (mnist-cpu)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), in_channels, num_classes, widths=(16, 32, 64, 128))


@register_architecture("resnet34")
def resnet34(in_channels: int, num_classes: int) -> SimilarityNet:
    return ResNet(BasicBlock, (3, 4, 6, 3), in_channels, num_classes)


@register_architecture("resnet50")
def resnet50(in_channels: int, num_classes: int) -> SimilarityNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), in_channels, num_classes)


@register_architecture("small_cnn")
def small_cnn(in_channels: int, num_classes: int) -> SimilarityNet:
    return SmallCNN(in_channels, num_classes)


def build_model(arch: str, in_channels: int, num_classes: int) -> SimilarityNet:
    """A fresh model with forward(x) -> logits and similarity(x0, x1) -> (k,)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(sorted(ARCHITECTURES))}")
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 (grayscale) or 3 (RGB), got {in_channels}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    return ARCHITECTURES[arch](in_channels, num_classes)
