"""Per-epoch aggregates of training histories: n per epoch, and what an upload's history may hold is skipped."""

import math

import pytest
from scipy import stats

from sthlib.evaluate.aggregate import HISTORY_METRICS, aggregate_histories


def test_each_epoch_is_the_mean_over_the_models_that_recorded_it():
    histories = [
        [{"epoch": 0, "valid_acc": 0.1}, {"epoch": 1, "valid_acc": 0.5}, {"epoch": 2, "valid_acc": 0.7}],
        [{"epoch": 0, "valid_acc": 0.2}, {"epoch": 1, "valid_acc": 0.6}],
        [{"epoch": 0, "valid_acc": 0.3}, {"epoch": 1, "valid_acc": None}],  # not recorded: not counted
    ]
    (points,) = aggregate_histories(histories, ["valid_acc"]).values()
    assert [(p["epoch"], p["n"]) for p in points] == [(0, 3), (1, 2), (2, 1)]
    low, high = stats.t.interval(0.95, 2, loc=0.2, scale=stats.sem([0.1, 0.2, 0.3]))
    assert (points[0]["mean"], points[0]["low"], points[0]["high"]) == pytest.approx((0.2, low, high))
    assert points[2] == {"epoch": 2, "mean": 0.7, "low": None, "high": None, "n": 1, "std": None}


def test_what_is_no_finite_number_or_has_no_epoch_is_skipped_and_a_repeated_epoch_counts_once():
    histories = [
        [{"epoch": 1, "train_loss": 9.0}, {"epoch": 1, "train_loss": 1.0}, {"epoch": "2", "train_loss": 5.0}],
        [{"epoch": 1, "train_loss": "1.5"}, {"epoch": 2, "train_loss": math.nan}, {"train_loss": 4.0}],
        [{"epoch": 1, "train_loss": True}, {"epoch": 2, "train_loss": math.inf}, {"epoch": True, "train_loss": 3.0}],
        ["epoch 1", None, [1, 2.0]],
    ]
    series = aggregate_histories(histories, ["train_loss", "sim_corr"])
    assert series["train_loss"] == [{"epoch": 1, "mean": 1.0, "low": None, "high": None, "n": 1, "std": None}]
    assert series["sim_corr"] == []


def test_the_compared_metrics_are_fields_of_the_epoch_metrics():
    from sthlib.train.metrics import EpochMetrics

    assert {m.key for m in HISTORY_METRICS} <= set(EpochMetrics.__dataclass_fields__)
