"""A small CNN for tests and quick demos: trains on CPU in seconds, same similarity path as the ResNets."""

from __future__ import annotations

import itertools

from torch import nn

from sthlib.models.base import SimilarityNet

WIDTHS = (16, 32, 64)  # channels of the stem and the two stride-2 stages


def _conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class SmallCNN(SimilarityNet):
    """Taps: the stem output and each stage's output (3 feature maps); 28x28 -> 28 -> 14 -> 7."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__(WIDTHS)
        self.stem = _conv_bn(in_channels, WIDTHS[0], 1)
        self.stages = nn.ModuleList(
            [nn.Sequential(_conv_bn(cin, cout, 2), _conv_bn(cout, cout, 1)) for cin, cout in itertools.pairwise(WIDTHS)]
        )
        self.linear = nn.Linear(WIDTHS[-1], num_classes)
