import math

import pytest
import torch

from sthlib.losses import arctanh_square, mse, stretch


def test_stretch_is_twice_artanh_and_finite_at_the_targets():
    z = torch.tensor([-0.9, -0.5, 0.0, 0.3, 0.75], dtype=torch.float64)
    assert torch.allclose(stretch(z, eps=0.0), 2 * torch.atanh(z))
    assert stretch(torch.tensor([1.0], dtype=torch.float64)).item() == pytest.approx(
        math.log(2 + 1e-5) - math.log(1e-5)
    )
    assert stretch(torch.tensor([1.0])).item() == pytest.approx(12.2, abs=0.01)


def test_arctanh_square_at_known_values():
    pred = torch.tensor([0.5, 0.0], dtype=torch.float64)
    target = torch.tensor([0.0, -0.5], dtype=torch.float64)
    g = math.log(1.5 + 1e-5) - math.log(0.5 + 1e-5)  # g(0.5) = 2 artanh(0.5) = log 3 (up to eps)
    assert arctanh_square(pred, target).item() == pytest.approx(g**2)
    assert arctanh_square(torch.ones(3), torch.ones(3)).item() == 0.0
    assert mse(pred, target).item() == pytest.approx(0.25)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shapes differ"):
        arctanh_square(torch.zeros(3), torch.zeros(4))
