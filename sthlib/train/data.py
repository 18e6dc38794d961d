"""The task's images and labels on the device, and the regularization images with their pair sampler."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sthlib.data import dataset_info, load_dataset, train_valid_split
from sthlib.pairs import PairBatch, PairSampler, PairScan
from sthlib.preflight import check_pairs
from sthlib.similarity import unit_vectors
from sthlib.specs import TrainSpec
from sthlib.train.augment import frozen_crop_flip


@dataclass
class TaskData:
    """uint8 images and int64 labels, already on the training device."""

    train_x: Tensor
    train_y: Tensor
    valid_x: Tensor
    valid_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int

    @classmethod
    def load(cls, spec: TrainSpec, device: torch.device) -> TaskData:
        info = dataset_info(spec.dataset)
        images, labels = load_dataset(spec.dataset, "train", spec.color)
        test_x, test_y = load_dataset(spec.dataset, "test", spec.color)
        train_idx, valid_idx = train_valid_split(len(images), spec.valid_fraction, spec.seed)
        if spec.train_limit is not None:
            if spec.train_limit > len(train_idx):
                raise ValueError(
                    f"train_limit={spec.train_limit} exceeds the {len(train_idx)} training images of "
                    f"{spec.dataset!r} (after holding out validation); lower it or leave it unset"
                )
            train_idx = train_idx[: spec.train_limit]
        if spec.test_limit is not None:
            test_x, test_y = test_x[: spec.test_limit], test_y[: spec.test_limit]

        def put(a: object) -> Tensor:
            return torch.as_tensor(a).to(device)

        return cls(
            train_x=put(images[train_idx]),
            train_y=put(labels[train_idx]),
            valid_x=put(images[valid_idx]),
            valid_y=put(labels[valid_idx]),
            test_x=put(test_x),
            test_y=put(test_y),
            num_classes=info.num_classes,
        )


@dataclass
class RegData:
    """The N regularization images (uint8, on the device) and the sampler of their pairs.

    With reg.augment "frozen" (auto for CIFAR-like regularization images) `images` are the crops and flips drawn
    once by ``frozen_crop_flip`` from the spec's seed: S, the targets and every training pair come from them.
    """

    images: Tensor
    sampler: PairSampler

    @classmethod
    def load(cls, spec: TrainSpec, device: torch.device) -> RegData:
        """SpecError, worded as the API's pre-flight check (sthlib.preflight.check_pairs), for a regularizer that
        cannot run: more images than the split holds, no pair selected, more pairs per step than selected."""
        reg = spec.reg
        name = reg.dataset or spec.dataset
        images, _ = load_dataset(name, "train", spec.color)

        def check(selected: int | None) -> None:
            check_pairs(dataset=name, n_images=reg.n_images, threshold=reg.threshold, variant=reg.variant,
                        threshold_low=reg.threshold_low, pairs_per_step=reg.pairs_per_step, available=len(images),
                        selected=selected)  # fmt: skip

        check(None)  # the image count, before any work
        frozen = torch.as_tensor(images[: reg.n_images])
        if spec.resolved_reg_augment() == "frozen":  # before S: targets and pairs see the same cropped images
            frozen = frozen_crop_flip(frozen, spec.seed)
        r = unit_vectors(frozen).to(device)
        scan = PairScan.of(r, reg.threshold, reg.variant, reg.threshold_low)
        check(scan.count)
        sampler = PairSampler(r, reg.threshold, reg.variant, reg.threshold_low, seed=spec.seed, scan=scan)
        return cls(images=frozen.to(device), sampler=sampler)

    def fixed_pairs(self, count: int, seed: int) -> PairBatch:
        """`count` pairs (fewer if fewer are selected) from an independent stream: the same every epoch. The
        stream is a fork of the training sampler: the same selected pairs, no second scan of S."""
        other = self.sampler.fork(seed)
        return other.sample(min(count, other.selected_count))
