import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sthlib.evaluate.metrics import (
    corruption_table,
    normalized_auc,
    passes_r0_u0,
    r0_u0,
    relative_curve,
    relative_robustness,
    select_most_robust,
)
from sthlib.evaluate.results import CurvePoint, RobustnessCurve


def make_curve(
    strengths: list[float],
    accuracies: list[float],
    evaluator: str = "gaussian",
    model: str = "m",
    on_correct: list[float] | None = None,
) -> RobustnessCurve:
    correct = on_correct if on_correct is not None else accuracies
    points = [CurvePoint(s, a, 100, c) for s, a, c in zip(strengths, accuracies, correct, strict=True)]
    return RobustnessCurve(evaluator, {}, "sigma", "pixel value in [0, 1]", points, model=model)


@given(
    level=st.floats(0.0, 1.0),
    strengths=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=12, unique=True),
)
def test_flat_curve_auc_is_its_level(level: float, strengths: list[float]) -> None:
    assert normalized_auc(make_curve(strengths, [level] * len(strengths))) == pytest.approx(level)


@pytest.mark.parametrize(
    "strengths",
    [
        [0.0, 0.25, 0.5, 0.75, 1.0],
        [0.0, 0.05, 0.1, 0.6, 1.0],  # uneven
        [1.0, 0.0, 0.3],  # unsorted
    ],
)
def test_linear_ramp_auc_is_one_half(strengths: list[float]) -> None:
    ramp = make_curve(strengths, [1.0 - s for s in strengths])
    assert normalized_auc(ramp) == pytest.approx(0.5)


def test_auc_scales_out_the_strength_range() -> None:
    strengths = [0.0, 0.02, 0.05, 0.1]
    assert normalized_auc(make_curve(strengths, [1.0 - 10 * s for s in strengths])) == pytest.approx(0.5)


def test_auc_single_point_empty_and_on_correct() -> None:
    assert normalized_auc(make_curve([0.0], [0.7])) == 0.7
    with pytest.raises(ValueError, match="empty"):
        normalized_auc(make_curve([], []))
    curve = make_curve([0.0, 1.0], [0.8, 0.4], on_correct=[1.0, 0.5])
    assert normalized_auc(curve, on_correct=True) == pytest.approx(0.75)
    assert normalized_auc(curve) == pytest.approx(0.6)


def test_relative_robustness_sign_and_curve() -> None:
    x = [0.0, 0.1, 0.3]
    strong = make_curve(x, [0.9, 0.8, 0.7], model="reg")
    weak = make_curve(x, [0.9, 0.5, 0.2], model="base")
    assert relative_robustness(strong, weak) > 0
    assert relative_robustness(weak, strong) < 0
    assert relative_robustness(strong, strong) == 0
    diff = relative_curve(strong, weak)
    assert [s for s, _ in diff] == [0.0, 0.1, 0.3]
    assert [d for _, d in diff] == pytest.approx([0.0, 0.3, 0.5])


def test_relative_robustness_rejects_mismatched_curves() -> None:
    base = make_curve([0.0, 0.1], [0.9, 0.5])
    with pytest.raises(ValueError, match=r"evaluators.*'uniform'.*'gaussian'"):
        relative_robustness(make_curve([0.0, 0.1], [0.9, 0.5], evaluator="uniform"), base)
    with pytest.raises(ValueError, match="strengths"):
        relative_robustness(make_curve([0.0, 0.2], [0.9, 0.5]), base)
    with pytest.raises(ValueError, match="strengths"):
        relative_curve(make_curve([0.0, 0.1, 0.2], [0.9, 0.5, 0.1]), base)


def test_r0_u0() -> None:
    assert r0_u0(0.9, 0.95) == pytest.approx(0.9 / 0.95)
    assert passes_r0_u0(0.9, 1.0)
    assert passes_r0_u0(0.855, 0.95)
    assert not passes_r0_u0(0.85, 0.95)
    assert passes_r0_u0(0.85, 0.95, minimum=0.8)
    for u0 in (0.0, -0.1):
        with pytest.raises(ValueError, match="U0"):
            r0_u0(0.9, u0)


def test_select_most_robust_excludes_low_clean_accuracy() -> None:
    x = [0.0, 0.5]
    candidates = [
        ("alpha4", 0.95, make_curve(x, [0.95, 0.4])),
        ("alpha10", 0.92, make_curve(x, [0.92, 0.6])),
        ("alpha40", 0.80, make_curve(x, [0.80, 0.8])),  # most robust, but R0/U0 = 0.8 < 0.9
    ]
    assert select_most_robust(candidates, baseline_clean_acc=1.0) == "alpha10"
    assert select_most_robust(candidates, baseline_clean_acc=1.0, minimum=0.8) == "alpha40"
    assert select_most_robust(candidates[2:], baseline_clean_acc=1.0) is None
    assert select_most_robust([], baseline_clean_acc=1.0) is None


def corruption_curve(name: str, group: str, accuracies: list[float], model: str = "m") -> RobustnessCurve:
    points = [CurvePoint(float(s), a, 100, a) for s, a in enumerate(accuracies)]
    return RobustnessCurve("corruption", {"corruption": name}, "severity", "", points, model=model, group=group)


def test_corruption_table_means() -> None:
    curves = [
        corruption_curve("gaussian_noise", "high", [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]),
        corruption_curve("impulse_noise", "high", [0.9, 0.6, 0.5, 0.4, 0.3, 0.2]),
        corruption_curve("fog", "low", [0.9, 0.9, 0.9, 0.8, 0.8, 0.6]),
    ]
    table = corruption_table(curves)
    assert table["model"] == "m"
    assert table["clean"] == pytest.approx(0.9)
    assert table["per_corruption"] == pytest.approx({"gaussian_noise": 0.6, "impulse_noise": 0.4, "fog": 0.8})
    assert table["groups"] == {"gaussian_noise": "high", "impulse_noise": "high", "fog": "low"}
    assert list(table["per_severity"]) == [0, 1, 2, 3, 4, 5]
    assert table["per_severity"][1] == pytest.approx((0.8 + 0.6 + 0.9) / 3)
    assert table["per_severity"][5] == pytest.approx((0.4 + 0.2 + 0.6) / 3)
    assert table["per_group"] == pytest.approx({"low": 0.8, "high": 0.5})
    assert list(table["per_group"]) == ["low", "high"]
    assert not math.isnan(table["per_group"]["high"])


@pytest.mark.parametrize(
    ("curves", "message"),
    [
        ([], "at least one"),
        ([make_curve([0.0], [0.9])], "expected corruption curves"),
        ([corruption_curve("fog", "middle", [0.9])], "group 'middle'"),
        ([corruption_curve("fog", "low", [0.9]), corruption_curve("fog", "low", [0.9])], "appears twice"),
        ([corruption_curve("fog", "low", [0.9]), corruption_curve("snow", "mid", [0.9], model="x")], "several models"),
        ([RobustnessCurve("corruption", {}, "severity", "", [], group="low")], "params\\['corruption'\\]"),
    ],
)
def test_corruption_table_rejects_bad_input(curves: list[RobustnessCurve], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        corruption_table(curves)


def test_corruption_table_rejects_non_severity_strengths() -> None:
    curve = RobustnessCurve(
        "corruption", {"corruption": "fog"}, "severity", "", [CurvePoint(0.5, 0.9, 10, 0.9)], group="low"
    )
    with pytest.raises(ValueError, match="not a severity"):
        corruption_table([curve])
