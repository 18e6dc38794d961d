"""Training histories side by side (GET /v1/compare/history), on SQLite and PostgreSQL: per group and epoch the mean
over its models with a 95% Student t interval (checked against scipy) and n per epoch, seeds of different lengths;
per model; CSV rows; figures; what cannot be compared says why."""

import csv
import io

import pytest
from scipy import stats

from sthlib.specs import preset
from store.db import session_scope
from store.keys import find_user
from store.models import Job, JobKind, JobStatus
from tests.api.conftest import auth, trained_model

METRICS = ["train_loss", "reg_loss", "train_acc", "valid_acc", "sim_corr"]


def epoch_entry(epoch: int, seed: int, regularized: bool) -> dict:
    """An EpochMetrics dict as the worker stores it; epoch 0 (untrained) has no train_* values."""
    trained = epoch > 0
    return {"epoch": epoch, "lr": 0.1, "valid_loss": 2.0 - 0.3 * epoch, "valid_acc": 0.1 + 0.2 * epoch + 0.01 * seed,
            "test_loss": 2.0, "test_acc": 0.5, "train_loss": 2.5 / (epoch + 1) + 0.05 * seed if trained else None,
            "train_acc": 0.2 * epoch + 0.03 * seed if trained else None,
            "reg_loss": 1.0 / epoch - 0.02 * seed if trained and regularized else None, "reg_eval_loss": None,
            "sim_corr": 0.2 + 0.1 * epoch + 0.04 * seed * seed if regularized else None, "layer_weights": [0.5, 0.5],
            "seconds": 1.0, "images_per_s": 10.0}  # fmt: skip


def add_model(url: str, alpha: float, seed: int, epochs: int | None, parent: str | None) -> str:
    """A trained model of the smoke preset with `alpha` and `seed` and `epochs` epochs of history (None: an upload
    without history)."""
    with session_scope(url) as session:
        model = trained_model(session, find_user(session, "alice").id, alpha, seed, parent)
        if epochs is not None:
            model.origin = "trained"
            model.history = [epoch_entry(e, seed, alpha > 0) for e in range(epochs + 1)]
        return model.id


@pytest.fixture(scope="module")
def trained(db_client):
    url = db_client.settings.database_url
    with session_scope(url) as session:
        sweep = Job(kind=JobKind.sweep, status=JobStatus.succeeded, owner_id=find_user(session, "alice").id, spec={},
                    spec_hash="s")  # fmt: skip
        session.add(sweep)
        session.flush()
        sweep_id = sweep.id
    # seeds of one setting that trained 3, 4 and 2 epochs: n is 3 up to epoch 2, then 2, then 1
    reg = {seed: add_model(url, 1.0, seed, epochs, sweep_id) for seed, epochs in ((0, 3), (1, 4), (2, 2))}
    base = {seed: add_model(url, 0.0, seed, 3, sweep_id) for seed in (0, 1)}
    bare = add_model(url, 2.0, 0, None, None)  # uploaded without a history: a setting of its own
    return {"reg": reg, "base": base, "bare": bare, "sweep": sweep_id,
            "setting": preset("smoke", **{"reg.alpha": 1.0}).setting_hash(),
            "baseline": preset("smoke", **{"reg.alpha": 0.0}).setting_hash()}  # fmt: skip


def history(client, **params):
    response = client.get("/v1/compare/history", headers=auth(client, "bob"), params=params)
    assert response.status_code == 200, response.text
    return response


def expected(values: list[float]) -> tuple[float, float, float]:
    """mean and scipy's 95% t interval (nan for one value)."""
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, float("nan"), float("nan")
    low, high = stats.t.interval(0.95, len(values) - 1, loc=mean, scale=stats.sem(values))
    return mean, low, high


def test_a_setting_learns_as_the_mean_of_its_seeds_with_n_per_epoch(db_client, trained):
    body = history(db_client, setting=[trained["setting"], trained["baseline"]], group_by="setting").json()
    assert body["group_by"] == "setting" and "95% Student t" in body["interval"] and "per epoch" in body["interval"]
    assert sorted(body["metrics"]) == sorted(METRICS) and body["missing"] == []
    groups = {g["key"]: g for g in body["groups"]}
    reg, base = groups[trained["setting"]], groups[trained["baseline"]]
    assert reg["n"] == 3 and sorted(reg["seeds"]) == [0, 1, 2] and reg["label"] == "small_cnn mnist-5k a1 Th0.2 e3"
    assert sorted(reg["models"]) == sorted(trained["reg"].values()) and base["n"] == 2
    lengths = {0: 3, 1: 4, 2: 2}
    for metric in METRICS:
        points = reg["series"][metric]
        first = 0 if metric in ("valid_acc", "sim_corr") else 1  # the untrained epoch 0 has no train_* or L_reg
        assert [p["epoch"] for p in points] == list(range(first, 5)), metric
        for p in points:
            values = [epoch_entry(p["epoch"], s, True)[metric] for s, n in lengths.items() if p["epoch"] <= n]
            assert p["n"] == len(values) == {0: 3, 1: 3, 2: 3, 3: 2, 4: 1}[p["epoch"]]
            mean, low, high = expected(values)
            assert p["mean"] == pytest.approx(mean, rel=1e-12), (metric, p)
            if len(values) == 1:
                assert p["low"] is None and p["high"] is None and p["std"] is None
            else:
                assert (p["low"], p["high"], p["std"]) == pytest.approx((low, high, stats.tstd(values)), rel=1e-9)
    assert base["series"]["reg_loss"] == [] and base["series"]["sim_corr"] == []  # unregularized: not recorded
    assert [p["n"] for p in base["series"]["train_acc"]] == [2, 2, 2]


def test_models_one_by_one_and_a_sweep_in_one_call(db_client, trained):
    model = trained["reg"][1]
    (group,) = history(db_client, model_id=[model]).json()["groups"]
    assert group["key"] == model and group["n"] == 1 and group["label"] == "a1.0-s1" and group["seeds"] == [1]
    assert [p["mean"] for p in group["series"]["train_loss"]] == [epoch_entry(e, 1, True)["train_loss"]
                                                                  for e in range(1, 5)]  # fmt: skip
    assert all(p["low"] is None and p["high"] is None and p["n"] == 1 for p in group["series"]["train_loss"])
    body = history(db_client, sweep_id=trained["sweep"], group_by="model").json()
    assert sorted(g["key"] for g in body["groups"]) == sorted([*trained["reg"].values(), *trained["base"].values()])
    by_setting = history(db_client, sweep_id=trained["sweep"], group_by="setting").json()
    assert sorted(g["n"] for g in by_setting["groups"]) == [2, 3]


def test_a_model_without_history_is_missing_from_its_setting_and_refused_alone(db_client, trained):
    body = history(db_client, model_id=[trained["bare"]], setting=[trained["setting"]], group_by="setting").json()
    assert body["missing"] == [trained["bare"]] and [g["key"] for g in body["groups"]] == [trained["setting"]]
    for params in ({"model_id": [trained["bare"]], "group_by": "setting"},
                   {"model_id": [trained["bare"], trained["reg"][0]], "group_by": "model"}):  # fmt: skip
        response = db_client.get("/v1/compare/history", headers=auth(db_client), params=params)
        assert response.status_code == 422 and trained["bare"] in response.json()["error"]["message"], response.text
        assert response.json()["error"]["details"]["field"] == "model_id"


def test_csv_is_one_row_per_group_epoch_and_metric(db_client, trained):
    text = history(db_client, setting=[trained["setting"], trained["baseline"]], group_by="setting",
                   format="csv").text  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.split("\n")[0] == "group,label,epoch,metric,n,mean,low,high,std"
    assert len(rows) == (4 + 4 + 4 + 5 + 5) + (3 + 0 + 3 + 4 + 0)  # per metric its epochs; the baseline has no L_reg
    row = next(r for r in rows if r["group"] == trained["setting"] and r["epoch"] == "3" and r["metric"] == "train_acc")
    mean, low, high = expected([epoch_entry(3, s, True)["train_acc"] for s in (0, 1)])
    assert row["n"] == "2" and (float(row["mean"]), float(row["low"]), float(row["high"])) == pytest.approx(
        (mean, low, high))  # fmt: skip
    last = next(r for r in rows if r["group"] == trained["setting"] and r["epoch"] == "4" and r["metric"] == "sim_corr")
    assert last["n"] == "1" and last["low"] == last["high"] == last["std"] == ""


def test_figures_are_images_with_editable_text(db_client, trained):
    params = {"setting": [trained["setting"], trained["baseline"]], "group_by": "setting"}
    png = history(db_client, **params, format="png")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    svg = history(db_client, **params, format="svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "<text" in svg.text
    assert "small_cnn mnist-5k a1 Th0.2 e3 (n=1-3)" in svg.text and "small_cnn mnist-5k a0 e3 (n=2)" in svg.text
    assert "similarity correlation" in svg.text and "L_reg" in svg.text  # text, not glyph paths


@pytest.mark.parametrize(("params", "status", "field"), [
    ({}, 422, "model_id"),
    ({"model_id": "0" * 32}, 404, None),
    ({"setting": "0" * 12}, 404, None),
    ({"sweep_id": "0" * 32}, 404, None),
    ({"setting": "{setting}", "group_by": "seed"}, 422, "query.group_by"),
    ({"setting": "{setting}", "format": "pdf"}, 422, "query.format"),
])  # fmt: skip
def test_what_cannot_be_compared_says_why(db_client, trained, params, status, field):
    params = {k: trained["setting"] if v == "{setting}" else v for k, v in params.items()}
    response = db_client.get("/v1/compare/history", headers=auth(db_client), params=params)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if status == 404:
        assert error["message"].startswith("no ") and error["details"] is None
    else:
        assert error["details"]["field"] == field
