"""SimilarityNet: a classifier that also scores the representational similarity of image pairs (PAPER.md 2)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

TAP_MOMENTUM = 0.1  # m_l <- (1 - 0.1) m_l + 0.1 * batch mean, as the reference


class SimilarityNet(nn.Module):
    """Base of every architecture: a stem, stages and a linear classifier. ``taps(x)`` are the feature maps the
    similarity path reads (the last one feeds ``classify``).

    Buffers ``tap_mean_l`` hold one running mean per channel of each tap (starting at 0); the trainable
    ``layer_weights`` (starting at zeros, so the softmax weights start uniform) mix the per-layer cosines.
    """

    def __init__(self, tap_channels: Sequence[int]) -> None:
        super().__init__()
        self.tap_channels = tuple(tap_channels)
        for index, channels in enumerate(self.tap_channels):
            self.register_buffer(f"tap_mean_{index}", torch.zeros(channels))
        self.layer_weights = nn.Parameter(torch.zeros(len(self.tap_channels)))

    stem: nn.Module
    stages: nn.ModuleList
    linear: nn.Linear

    def taps(self, x: Tensor) -> list[Tensor]:
        """The stem output and each stage's output; subclasses with another shape override this."""
        out = [self.stem(x)]
        for stage in self.stages:
            out.append(stage(out[-1]))
        return out

    def classify(self, features: Tensor) -> Tensor:
        """Global average pool, then the linear layer (the reference's 4x4 average pool on its 4x4 final map)."""
        return self.linear(F.adaptive_avg_pool2d(features, 1).flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.taps(x)[-1])

    def tap_means(self) -> list[Tensor]:
        return [getattr(self, f"tap_mean_{index}") for index in range(len(self.tap_channels))]

    def similarity(self, x0: Tensor, x1: Tensor, fused: bool = False) -> Tensor:
        """Predicted similarity (k,) of the pairs (x0[p], x1[p]):  sum_l softmax(w)_l * cos(f0_l - m_l, f1_l - m_l).

        In training mode the running means m_l are first updated with the detached features of both batches.

        fused=False (the reference): the core runs twice, on x0 then on x1, so in training mode each half is
        normalised by BatchNorm with its own batch statistics and BatchNorm's running statistics are updated twice.
        fused=True: one pass over the 2k images of cat(x0, x1). It is faster (one larger batch), but BatchNorm then
        normalises both halves with statistics of the joint 2k-image batch, and its running statistics get one
        update from that joint batch instead of two successive ones. The similarity itself is computed the same way.
        """
        if x0.shape != x1.shape:
            raise ValueError(f"x0 and x1 must have the same shape, got {tuple(x0.shape)} and {tuple(x1.shape)}")
        if fused:
            pairs = [f.chunk(2, dim=0) for f in self.taps(torch.cat([x0, x1]))]
        else:
            pairs = list(zip(self.taps(x0), self.taps(x1), strict=True))
        # Under bf16 autocast (TrainSpec.speed.amp) the features arrive in bfloat16; the means, cosines and their
        # mix stay float32: bf16 steps by 0.004 near 1, where the loss's g(0.996) = 6.2 but g(1) = 12.2.
        with torch.autocast(x0.device.type, enabled=False):
            return self._score([(f0.float(), f1.float()) for f0, f1 in pairs])

    def _score(self, pairs: list[tuple[Tensor, Tensor]]) -> Tensor:
        scores = []
        for (f0, f1), mean in zip(pairs, self.tap_means(), strict=True):
            if self.training:
                batch_mean = (f0.detach().mean(dim=(0, 2, 3)) + f1.detach().mean(dim=(0, 2, 3))) / 2  # equal halves
                mean.mul_(1 - TAP_MOMENTUM).add_(batch_mean, alpha=TAP_MOMENTUM)
            centre = mean.view(1, -1, 1, 1)
            scores.append(F.cosine_similarity((f0 - centre).flatten(1), (f1 - centre).flatten(1), dim=1))
        return torch.stack(scores, dim=1) @ torch.softmax(self.layer_weights, dim=0)
