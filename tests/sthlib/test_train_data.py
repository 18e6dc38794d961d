import pytest
import torch
import torch.nn.functional as F

from sthlib.data import load_dataset
from sthlib.similarity import unit_vectors
from sthlib.specs import RegSpec, TrainSpec, preset
from sthlib.train.augment import CROP_PADDING
from sthlib.train.data import RegData
from tests.sthlib.fakes import write_cifar10_bin

CPU = torch.device("cpu")
N = 40  # regularization images


@pytest.fixture
def cifar_spec(tmp_path, monkeypatch):
    """A CIFAR-10 task on random images in the binary layout (20 per batch file), regularized on its own images."""
    write_cifar10_bin(tmp_path, [i % 10 for i in range(20)], seed=3)
    monkeypatch.setenv("STH_DATA_DIR", str(tmp_path))
    return TrainSpec(dataset="cifar10", reg=RegSpec(alpha=1.0, n_images=N, pairs_per_step=4)).validate()


def _crops_and_flips(image: torch.Tensor) -> list[torch.Tensor]:
    """Every image crop_flip can make of `image` (C,H,W): each offset of the reflect-padded image, flipped or not."""
    _, h, w = image.shape
    padded = F.pad(image[None].float(), (CROP_PADDING,) * 4, mode="reflect")[0]
    offsets = range(2 * CROP_PADDING + 1)
    crops = [padded[:, dy : dy + h, dx : dx + w] for dy in offsets for dx in offsets]
    return crops + [c.flip(-1) for c in crops]


def test_cifar_regularization_images_are_frozen_crops_and_flips_of_the_originals(cifar_spec):
    originals = torch.as_tensor(load_dataset("cifar10", "train", "gray")[0][:N])
    reg = RegData.load(cifar_spec, CPU)
    assert cifar_spec.resolved_reg_augment() == "frozen"
    assert reg.images.shape == originals.shape and reg.images.dtype == torch.uint8
    assert not torch.equal(reg.images, originals)
    for frozen, original in zip(reg.images, originals, strict=True):
        assert any(torch.equal(frozen.float(), c) for c in _crops_and_flips(original))


def test_frozen_images_are_reproducible_from_the_seed(cifar_spec):
    first = RegData.load(cifar_spec, CPU).images
    assert torch.equal(RegData.load(cifar_spec, CPU).images, first)
    assert not torch.equal(RegData.load(cifar_spec.replace(seed=1), CPU).images, first)


def test_similarity_targets_come_from_the_frozen_images(cifar_spec):
    reg = RegData.load(cifar_spec, CPU)
    assert torch.equal(reg.sampler.r, unit_vectors(reg.images))
    originals = load_dataset("cifar10", "train", "gray")[0][:N]
    assert not torch.equal(reg.sampler.r, unit_vectors(originals))


def test_reg_augment_none_keeps_the_cifar_images_as_loaded(cifar_spec):
    reg = RegData.load(cifar_spec.replace(**{"reg.augment": "none"}), CPU)
    assert torch.equal(reg.images, torch.as_tensor(load_dataset("cifar10", "train", "gray")[0][:N]))


def test_mnist_like_regularization_images_are_unchanged_by_default():
    spec = preset("smoke", **{"reg.n_images": 100})
    reg = RegData.load(spec, CPU)
    originals = torch.as_tensor(load_dataset("mnist-5k", "train", "gray")[0][:100])
    assert spec.resolved_reg_augment() == "none" and torch.equal(reg.images, originals)
    assert torch.equal(reg.sampler.r, unit_vectors(originals))
    frozen = RegData.load(spec.replace(**{"reg.augment": "frozen"}), CPU).images  # asked for: 28 x 28 crops
    assert frozen.shape == originals.shape and not torch.equal(frozen, originals)
