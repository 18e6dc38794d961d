"""sthlib.evaluate.corruptions on real images: foolbox's 20 CIFAR-10 (RGB 32x32) and MNIST (gray 28x28) samples."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch import Tensor

from sthlib.data import foolbox_samples
from sthlib.evaluate.corruptions import CORRUPTIONS, FREQUENCY_GROUP, corrupt, corruption_names

CASES = [  # name, frequency group, random (the output depends on the seed); in the order of the CIFAR-10-C release
    ("gaussian_noise", "high", True),
    ("shot_noise", "high", True),
    ("impulse_noise", "high", True),
    ("defocus_blur", "mid", False),
    ("glass_blur", "mid", True),
    ("motion_blur", "mid", True),
    ("zoom_blur", "mid", False),
    ("snow", "low", True),
    ("frost", "low", True),
    ("fog", "low", True),
    ("brightness", "low", False),
    ("contrast", "low", False),
    ("elastic_transform", "mid", True),
    ("pixelate", "high", False),
    ("jpeg_compression", "high", False),
]
NAMES = [name for name, _, _ in CASES]
DATASETS = ["cifar10", "mnist"]  # RGB 32x32 and grayscale 28x28
SEVERITIES = [1, 2, 3, 4, 5]

# CIFAR-10-C's elastic transform is not monotone in pixel change: severity 1 is a pure affine warp whose control
# points move up to 0.08 * 32 = 2.6 px, severity 5 a 1 px affine warp plus a small local displacement field.
NOT_MONOTONE = {"elastic_transform": "the original constants make severity 1 a larger warp than severity 5"}


@pytest.fixture(scope="module")
def images() -> dict[str, Tensor]:
    return {dataset: torch.from_numpy(foolbox_samples(dataset)[0]).float() / 255 for dataset in DATASETS}


def mean_change(images: Tensor, name: str, severity: int) -> float:
    return float((corrupt(images, name, severity) - images).abs().mean())


def test_the_registry_holds_the_15_corruptions_in_release_order() -> None:
    assert corruption_names() == NAMES
    assert list(CORRUPTIONS) == NAMES
    assert {name: CORRUPTIONS[name].stochastic for name in NAMES} == {name: random for name, _, random in CASES}


def test_frequency_groups_cover_the_15_names_5_per_group() -> None:
    assert {name: group for name, group, _ in CASES} == FREQUENCY_GROUP
    assert Counter(FREQUENCY_GROUP.values()) == {"low": 5, "mid": 5, "high": 5}


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_device_and_range_are_kept(images: dict[str, Tensor], name: str, dataset: str) -> None:
    x = images[dataset]
    before = x.clone()
    for severity in SEVERITIES:
        out = corrupt(x, name, severity)
        assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
        assert torch.isfinite(out).all()
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        assert not torch.equal(out, x), f"{name} severity {severity} left the images unchanged"
    assert torch.equal(x, before), "the input was modified in place"


@pytest.mark.parametrize(("name", "random"), [(name, random) for name, _, random in CASES])
def test_a_seed_gives_bit_identical_output_and_another_seed_a_different_one(
    images: dict[str, Tensor], name: str, random: bool
) -> None:
    x = images["cifar10"]
    first = corrupt(x, name, 3, seed=1)
    assert torch.equal(first, corrupt(x, name, 3, seed=1))
    assert torch.equal(corrupt(x, name, 3, seed=2), first) is not random


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=NOT_MONOTONE[name]))
        if name in NOT_MONOTONE
        else name
        for name in NAMES
    ],
)
def test_severity_5_changes_the_images_more_than_severity_1(images: dict[str, Tensor], name: str, dataset: str) -> None:
    x = images[dataset]
    assert mean_change(x, name, 5) > mean_change(x, name, 1)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("channels", "side"), [(3, 8), (1, 17), (3, 64)])
def test_other_square_sizes_work(name: str, channels: int, side: int) -> None:
    x = torch.rand(2, channels, side, side, generator=torch.Generator().manual_seed(side))
    out = corrupt(x, name, 5)
    assert out.shape == x.shape and float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_float64_stays_float64_and_the_global_rng_is_untouched(images: dict[str, Tensor]) -> None:
    state = torch.random.get_rng_state()
    out = corrupt(images["mnist"].double(), "gaussian_noise", 2)
    assert out.dtype == torch.float64
    assert torch.equal(torch.random.get_rng_state(), state)


def test_brightness_of_grayscale_adds_the_shift(images: dict[str, Tensor]) -> None:
    x = images["mnist"]
    assert torch.allclose(corrupt(x, "brightness", 5), (x + 0.3).clamp(max=1.0))


def test_contrast_keeps_each_channel_mean(images: dict[str, Tensor]) -> None:
    x = images["cifar10"]
    out = corrupt(x, "contrast", 5)
    assert torch.allclose(out.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=1e-6)


@pytest.mark.parametrize("name", ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "pixelate"])
def test_blurs_keep_a_constant_image(name: str) -> None:
    x = torch.full((2, 3, 32, 32), 0.4)
    assert torch.allclose(corrupt(x, name, 5), x, atol=1e-6)


def test_an_unknown_name_lists_the_valid_ones(images: dict[str, Tensor]) -> None:
    with pytest.raises(ValueError, match="unknown corruption 'blizzard'") as error:
        corrupt(images["cifar10"], "blizzard", 1)
    assert all(name in str(error.value) for name in NAMES)


@pytest.mark.parametrize("severity", [0, 6, -1])
def test_severity_outside_1_to_5_is_an_error(images: dict[str, Tensor], severity: int) -> None:
    with pytest.raises(ValueError, match="severity must be one of"):
        corrupt(images["cifar10"], "fog", severity)


@pytest.mark.parametrize(
    ("shape", "message"),
    [((3, 32, 32), "4-D"), ((2, 2, 32, 32), "channels"), ((2, 4, 32, 32), "channels"), ((1, 3, 1, 1), "2x2")],
)
def test_bad_shapes_are_errors(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        corrupt(torch.rand(shape), "contrast", 1)


def test_integer_images_are_an_error() -> None:
    with pytest.raises(ValueError, match="float"):
        corrupt(torch.zeros(1, 3, 32, 32, dtype=torch.uint8), "contrast", 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_images_stay_on_the_device(images: dict[str, Tensor], name: str) -> None:
    x = images["cifar10"].cuda()
    out = corrupt(x, name, 5, seed=3)
    assert out.device == x.device and out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(out, corrupt(x, name, 5, seed=3))
    cpu = corrupt(x.cpu(), name, 5, seed=3)
    if not CORRUPTIONS[name].stochastic:  # no random draws: the devices agree up to float rounding
        assert torch.allclose(out.cpu(), cpu, atol=2 / 255)
