"""The pair-selection variants of S^Th (PAPER.md section 1, the "range" table), in one registry.

Each variant says which pairs i < j are trained and what their targets are. Specs, the similarity summary, the
dense targets and the training pair source all read the rules from here. Torch-free and numpy-free: the rules are
elementwise and written with operators that numpy arrays and torch tensors share, so a pair's selection and target
are defined once for both (the result has the input's type, dtype and device).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from sthlib.validation import SpecError, require

__all__ = [
    "REGISTRY",
    "VARIANTS",
    "Variant",
    "VariantRule",
    "pair_selected",
    "pair_targets",
    "validate_selection",
    "variant_rule",
]

Variant = Literal["all", "high", "low", "positive", "negative", "double", "continuous"]


def _thresholded(s: Any, threshold: float) -> Any:
    """T = S^Th: +1 where S > Th, -1 where S < -Th, 0 otherwise."""
    zero = s * 0  # float + bool keeps s's dtype in numpy and torch (torch refuses float - bool)
    return (zero + (s > threshold)) - (zero + (s < -threshold))


def _identity(s: Any, threshold: float) -> Any:
    """T = S (a copy: callers may write into the targets)."""
    return s.clone() if hasattr(s, "clone") else s.copy()


@dataclass(frozen=True)
class VariantRule:
    """One variant: `select(s, |s|, Th, Th2)` is its elementwise pair rule, `target(s, Th)` its target rule."""

    name: str
    description: str  # one line: which pairs are trained, and their targets
    filters: bool  # False: every pair i < j is trained (no scan over S is needed to count them)
    needs_low: bool  # takes threshold_low (Th2 < Th); every other variant refuses it
    select: Callable[[Any, Any, float, float], Any]
    target: Callable[[Any, float], Any]


def _every(s: Any, a: Any, th: float, low: float) -> Any:
    return a <= a  # all True for finite S, in s's own array type and device


REGISTRY: dict[str, VariantRule] = {
    rule.name: rule
    for rule in (
        VariantRule("all", "every pair i < j; targets +1 / 0 / -1", False, False, _every, _thresholded),
        VariantRule("high", "pairs with |S| > Th; targets +1 / -1", True, False,
                    lambda s, a, th, low: a > th, _thresholded),
        VariantRule("low", "pairs with |S| < Th; target 0", True, False, lambda s, a, th, low: a < th, _thresholded),
        VariantRule("positive", "pairs with S > Th or |S| < Th; targets +1 / 0", True, False,
                    lambda s, a, th, low: (s > th) | (a < th), _thresholded),
        VariantRule("negative", "pairs with S < -Th or |S| < Th; targets -1 / 0", True, False,
                    lambda s, a, th, low: (s < -th) | (a < th), _thresholded),
        VariantRule("double", "pairs with |S| > Th or |S| < Th2 (threshold_low); targets +1 / -1 / 0", True, True,
                    lambda s, a, th, low: (a > th) | (a < low), _thresholded),
        VariantRule("continuous", "every pair i < j; target S itself (no thresholding)", False, False, _every,
                    _identity),
    )
}  # fmt: skip
VARIANTS: tuple[str, ...] = tuple(REGISTRY)
assert get_args(Variant) == VARIANTS, "Variant and REGISTRY list the same names in the same order"


def variant_rule(variant: str) -> VariantRule:
    """The registry's entry; SpecError (field reg.variant) for an unknown name."""
    rule = REGISTRY.get(variant)
    if rule is None:
        raise SpecError("reg.variant", f"unknown variant {variant!r}", f"choose one of {', '.join(VARIANTS)}")
    return rule


def validate_selection(threshold: float, variant: str, threshold_low: float | None = None) -> None:
    """SpecError (a ValueError) naming the field, saying what to change, for a threshold / variant / threshold_low
    combination that cannot work."""
    rule = variant_rule(variant)
    require(0.0 < threshold < 1.0, "reg.threshold", f"threshold must be in (0, 1), got {threshold}")
    if rule.needs_low:
        require(threshold_low is not None, "reg.threshold_low",
                f"variant {variant!r} needs threshold_low (pairs with |S| < threshold_low get target 0)")  # fmt: skip
        assert threshold_low is not None
        require(0.0 < threshold_low < threshold, "reg.threshold_low",
                f"threshold_low must be in (0, threshold={threshold}), got {threshold_low}",
                "lower it or raise threshold")  # fmt: skip
    else:
        users = " or ".join(repr(rule.name) for rule in REGISTRY.values() if rule.needs_low)
        require(threshold_low is None, "reg.threshold_low", f"threshold_low is only used by variant {users}, not "
                f"{variant!r}", "leave it unset")  # fmt: skip


def pair_targets(s: Any, threshold: float, variant: str) -> Any:
    """The targets of pairs with similarities `s` (numpy array or torch tensor; the result has its type, dtype and
    device): T = S^Th (+1 where S > Th, -1 where S < -Th, 0 otherwise), or T = S for the continuous variant."""
    return variant_rule(variant).target(s, threshold)


def pair_selected(s: Any, threshold: float, variant: str, threshold_low: float | None = None) -> Any:
    """Which pairs a variant trains on (the paper's "range"), elementwise on similarities S (array or tensor)."""
    rule = variant_rule(variant)
    if rule.needs_low and threshold_low is None:
        raise SpecError("reg.threshold_low", f"variant {variant!r} needs threshold_low")
    low = float(threshold_low) if threshold_low is not None else 0.0  # only a needs_low variant reads it
    return rule.select(s, abs(s), threshold, low)
