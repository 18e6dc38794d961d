import pytest
import torch

from sthlib.evaluate.frequency import half_power_frequency, power_below, radial_power_spectrum


def test_a_smooth_perturbation_lands_in_the_low_bins():
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    smooth = torch.cos(2 * torch.pi * x / 32) + torch.sin(2 * torch.pi * y / 32)  # one cycle per image
    spectrum = radial_power_spectrum(smooth.expand(4, 1, 32, 32), bins=25)
    assert sum(spectrum["power"][:3]) > 0.99
    assert power_below(spectrum, 0.1) > 0.99 and half_power_frequency(spectrum) < 0.05


def test_a_checkerboard_lands_in_the_top_bin():
    y, x = torch.meshgrid(torch.arange(28), torch.arange(28), indexing="ij")
    board = ((x + y) % 2).float() * 2 - 1
    spectrum = radial_power_spectrum(board.expand(3, 1, 28, 28), bins=25)
    assert spectrum["power"][-1] > 0.99 and half_power_frequency(spectrum) > 0.48


def test_white_noise_spreads_over_all_bins_and_power_sums_to_one():
    g = torch.Generator().manual_seed(0)
    spectrum = radial_power_spectrum(torch.randn((64, 3, 32, 32), generator=g), bins=10)
    assert sum(spectrum["power"]) == pytest.approx(1.0)
    assert all(p > 0 for p in spectrum["power"])
    assert max(spectrum["mean_power"]) < 2 * min(spectrum["mean_power"])  # flat radial average


def test_bad_inputs():
    with pytest.raises(ValueError, match="non-empty"):
        radial_power_spectrum(torch.zeros((0, 1, 8, 8)))
    with pytest.raises(ValueError, match="bins"):
        radial_power_spectrum(torch.zeros((1, 1, 8, 8)), bins=1)
