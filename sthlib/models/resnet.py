"""The paper's ResNets: 7x7 stride-1 stem without max-pool, four sections, global 4x4 average pool."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from sthlib.models.base import SimilarityNet

WIDTHS = (64, 128, 256, 512)
STRIDES = (1, 2, 2, 2)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = _shortcut(cin, cout, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 (stride) -> 3x3 -> 1x1 (x4 channels), as the reference's ResNet50: the stride sits on the FIRST 1x1
    convolution (torchvision's "ResNet v1.5" puts it on the 3x3 instead). The projection shortcut keeps it too.
    The feature-map sizes are the same either way (1x1 with padding 0 and 3x3 with padding 1 both give ceil(h/2))."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, stride, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = _shortcut(cin, cout, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + self.shortcut(x))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(SimilarityNet):
    """Taps: the stem output and each of the four sections' outputs (5 feature maps)."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        depths: tuple[int, ...],
        in_channels: int,
        num_classes: int,
        widths: tuple[int, ...] = WIDTHS,
    ) -> None:
        out_channels = [w * block.expansion for w in widths]
        super().__init__([widths[0], *out_channels])
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 7, 1, 3, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        stages, cin = [], widths[0]
        for width, depth, stride in zip(widths, depths, STRIDES, strict=True):
            blocks = []
            for index in range(depth):
                blocks.append(block(cin, width, stride if index == 0 else 1))
                cin = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.linear = nn.Linear(cin, num_classes)
