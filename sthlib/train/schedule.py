"""The reference's cyclic step schedule."""

from __future__ import annotations

from sthlib.specs import TrainSpec


def learning_rate(spec: TrainSpec, epoch: int) -> float:
    """lr for 0-based `epoch`: lr * gamma^floor((epoch mod cycle) / step); paper: 0.1 * 0.3^floor((e mod 20)/4)."""
    return spec.lr * spec.lr_gamma ** ((epoch % spec.lr_cycle) // spec.lr_step)
