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


def _float32_spread() -> torch.Tensor:
    """Predictions over (-1, 1) in float32: a grid, 0, tiny values and the float32 neighbours of +-1."""
    near_one = torch.tensor([1 - 2**-24, 1 - 1e-7, 1 - 1e-6, 1 - 1e-5, 1 - 1e-3, 0.999, 0.9, 0.5 + 2**-24])
    small = torch.tensor([0.0, 1e-12, 1e-9, 1e-7, 1e-5, 1e-3, 0.01, 0.1, 0.3, 0.5 - 2**-25])
    grid = torch.linspace(-1, 1, 2001)[1:-1]
    z = torch.cat([near_one, -near_one, small, -small, grid]).float()
    assert z.abs().max() < 1
    return z


def _g_float64(z: torch.Tensor) -> torch.Tensor:
    """g in float64 on the same (float32) values; log1p keeps small z exact, and near +-1 float64 has digits to
    spare (the rounding of -z + eps costs 1e-11 relative there)."""
    z = z.double()
    return torch.log1p(z + 1e-5) - torch.log1p(-z + 1e-5)


def test_stretch_in_float32_matches_float64_over_the_whole_range():
    z = torch.cat([_float32_spread(), torch.tensor([1.0, -1.0])])
    exact = _g_float64(z)
    got = stretch(z).double()
    assert got[-2:].tolist() == pytest.approx([12.2060776, -12.2060776], rel=1e-7)
    assert torch.allclose(got, exact, rtol=1e-6, atol=0.0), (got - exact).abs().div(exact.abs()).nan_to_num().max()


@pytest.mark.parametrize("target", [1.0, -1.0])
def test_arctanh_square_in_float32_matches_float64_at_the_targets(target):
    pred = _float32_spread()
    targets = torch.full_like(pred, target)
    exact = (_g_float64(pred) - _g_float64(targets)).square().mean().item()
    assert arctanh_square(pred, targets).item() == pytest.approx(exact, rel=1e-6)


def test_stretch_gradient_is_finite_over_the_whole_range():
    z = torch.cat([_float32_spread(), torch.tensor([1.0, -1.0])]).requires_grad_()
    arctanh_square(z, torch.sign(z.detach())).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
    zero = torch.zeros(1, requires_grad=True)
    stretch(zero).sum().backward()
    assert zero.grad is not None and zero.grad.item() == pytest.approx(2 / (1 + 1e-5))
