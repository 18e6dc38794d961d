"""The sweep's table and selection rule (sthlib.sweep_summary), on rows made by hand: means over seeds, R0/U0
against the baseline's mean, the largest AUC among the eligible settings, and the two warnings."""

import pytest

from sthlib.jobspecs import build_sweep
from sthlib.specs import preset
from sthlib.sweep_summary import SweptModel, still_learning, summarize

SWEEP = build_sweep(preset("smoke"), {"reg.alpha": [1.0, 10.0]}, [0, 1], [{"name": "gaussian"}], None, check=False)


def _history(*valid_accs):
    return [{"epoch": i + 1, "valid_acc": acc} for i, acc in enumerate(valid_accs)]


def _rows(a10_r0=(0.78, 0.80), base_history=()):
    base = [SweptModel(f"b{s}", {}, True, 0.90, 0.50, _history(*base_history), len(base_history)) for s in (0, 1)]
    a1 = [SweptModel(f"a1-{s}", {"reg.alpha": 1.0}, False, 0.88, auc, []) for s, auc in ((0, 0.60), (1, 0.64))]
    a10 = [SweptModel(f"a10-{s}", {"reg.alpha": 10.0}, False, r0, 0.90, []) for s, r0 in enumerate(a10_r0)]
    return [*base, *a1, *a10]


def test_the_most_robust_setting_that_keeps_r0_u0_is_selected():
    result = summarize(SWEEP, _rows())
    by_alpha = {row["values"]["reg.alpha"]: row for row in result["settings"]}
    assert by_alpha[1.0]["auc"] == pytest.approx(0.62) and by_alpha[1.0]["auc_per_seed"] == [0.60, 0.64]
    assert by_alpha[10.0]["r0_u0"] == pytest.approx(0.79 / 0.90) and not by_alpha[10.0]["eligible"]
    assert result["selected"]["values"] == {"reg.alpha": 1.0}  # alpha 10 is more robust but loses clean accuracy
    assert result["u0"] == pytest.approx(0.90) and result["warnings"] == []


def test_nothing_is_selected_when_no_setting_keeps_r0_u0():
    rows = [r if r.baseline else SweptModel(r.model_id, r.values, False, 0.5, r.auc) for r in _rows()]
    assert summarize(SWEEP, rows)["selected"] is None


def test_a_selection_no_better_than_the_baseline_and_a_learning_baseline_are_warned_about():
    rows = [SweptModel(r.model_id, r.values, r.baseline, r.r0, 0.4 if not r.baseline else r.auc, r.history,
                       r.kept_epoch) for r in _rows(base_history=(0.80, 0.85))]  # fmt: skip
    warnings = summarize(SWEEP, rows)["warnings"]
    assert any("not more robust than the baseline" in w for w in warnings), warnings
    assert any("2 of its 2 model(s)" in w and "+0.050" in w for w in warnings), warnings


def test_a_model_is_still_learning_only_when_it_kept_its_last_epoch_and_that_epoch_gained():
    assert still_learning(SweptModel("m", {}, True, 0.9, 0.5, _history(0.80, 0.85), kept_epoch=2))
    assert not still_learning(SweptModel("m", {}, True, 0.9, 0.5, _history(0.80, 0.85), kept_epoch=1))
    assert not still_learning(SweptModel("m", {}, True, 0.9, 0.5, _history(0.850, 0.855), kept_epoch=2))
    assert not still_learning(SweptModel("m", {}, True, 0.9, 0.5, _history(0.85), kept_epoch=1))
