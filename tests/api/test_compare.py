"""Compare by setting: the mean over a setting's seeds with a 95% Student t interval (checked against scipy), for
curves and minimal-perturbation reports alike, R0/U0 against the setting's unregularized twin, CSV and figures."""

import csv
import io
import math

import pytest
from scipy import stats

from sthlib.evaluate.plots import color_for
from sthlib.evaluate.results import CurvePoint, RobustnessCurve
from sthlib.specs import preset
from store.db import session_scope
from store.keys import find_user
from store.models import EvalResult, Job, JobKind, JobStatus, Model
from tests.api.conftest import auth, trained_model

STRENGTHS = [0.0, 0.25, 0.5]


def report(score: float, success: float = 1.0) -> dict:
    summary = {"score": score, "score_std": 0.0, "repeats": 1, "success_rate": success, "start_rate": 1.0,
               "median_l2": 1.0, "median_linf": 0.1, "per_repeat": []}  # fmt: skip
    edges = [0.0, 0.25, 0.5]
    spectrum = {"frequency": [0.125, 0.375], "edges": edges, "power": [0.7, 0.3], "cutoff": 0.25,
                "half_power_frequency": 0.2}  # fmt: skip
    return {"kind": "perturbation", "evaluator": "boundary", "summary": summary, "spectrum": spectrum}


def add_model(url, alpha: float, seed: int, test_acc: float, accuracies: list[float] | None, score: float | None,
              parent: str | None = None) -> str:  # fmt: skip
    with session_scope(url) as session:
        model = trained_model(session, find_user(session, "alice").id, alpha, seed, parent)
        model.metrics = {"epoch": 3, "test_acc": test_acc}
        if accuracies is not None:
            points = [CurvePoint(s, a, 100, a) for s, a in zip(STRENGTHS, accuracies, strict=True)]
            curve = RobustnessCurve("gaussian", {}, "sigma", "pixel value", points, model=model.name)
            session.add(EvalResult(model_id=model.id, evaluator="gaussian", kind="curve", data=curve.to_dict()))
        if score is not None:
            session.add(EvalResult(model_id=model.id, evaluator="boundary", kind="perturbation", data=report(score)))
        return model.id


@pytest.fixture
def world(client):
    url = client.settings.database_url
    with session_scope(url) as session:
        sweep = Job(kind=JobKind.sweep, status=JobStatus.succeeded, owner_id=find_user(session, "alice").id, spec={},
                    spec_hash="s")  # fmt: skip
        session.add(sweep)
        session.flush()
        sweep_id = sweep.id
    reg = [add_model(url, 1.0, s, acc, curve, score, sweep_id) for s, acc, curve, score in (
        (0, 0.90, [0.90, 0.70, 0.40], 0.010), (1, 0.86, [0.86, 0.60, 0.30], 0.014),
        (2, 0.88, [0.88, 0.68, 0.41], 0.012))]  # fmt: skip
    base = [add_model(url, 0.0, s, acc, curve, score, sweep_id) for s, acc, curve, score in (
        (0, 0.95, [0.95, 0.50, 0.20], 0.006), (1, 0.93, [0.93, 0.40, 0.10], 0.005))]  # fmt: skip
    lone = add_model(url, 1.0, 9, 0.5, None, None)  # a model of the setting without results yet
    return {"reg": reg, "base": base, "lone": lone, "sweep": sweep_id,
            "setting": preset("smoke", **{"reg.alpha": 1.0}).setting_hash(),
            "baseline": preset("smoke", **{"reg.alpha": 0.0}).setting_hash()}  # fmt: skip


def expected_interval(values):
    mean = sum(values) / len(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=mean, scale=stats.sem(values))
    return mean, low, high


def compare(client, **params):
    response = client.get("/v1/compare", headers=auth(client, "bob"), params=params)
    assert response.status_code == 200, response.text
    return response


def test_a_setting_is_its_mean_over_seeds_with_a_t_interval_and_r0_u0_against_its_twin(client, world):
    body = compare(client, setting=[world["setting"], world["baseline"]], evaluator="gaussian",
                   group_by="setting").json()  # fmt: skip
    assert body["kind"] == "curve" and "95% Student t" in body["interval"] and body["missing"] == [world["lone"]]
    groups = {g["key"]: g for g in body["groups"]}
    reg, base = groups[world["setting"]], groups[world["baseline"]]
    assert reg["n"] == 3 and sorted(reg["seeds"]) == [0, 1, 2] and base["n"] == 2
    assert reg["label"] == "small_cnn mnist-5k a1 Th0.2 e3" and base["label"] == "small_cnn mnist-5k a0 e3"
    for point, values in zip(reg["points"], ([0.90, 0.86, 0.88], [0.70, 0.60, 0.68], [0.40, 0.30, 0.41]),
                             strict=True):  # fmt: skip
        mean, low, high = expected_interval(values)
        assert (point["mean"], point["low"], point["high"]) == pytest.approx((mean, low, high))
        assert point["n"] == 3 and point["std"] == pytest.approx(stats.tstd(values))
    assert reg["r0"]["n"] == 3 and reg["r0"]["mean"] == pytest.approx((0.90 + 0.86 + 0.88) / 3)  # the ones measured
    assert reg["u0"] == pytest.approx(0.94) and reg["r0_u0"] == pytest.approx(reg["r0"]["mean"] / 0.94)
    assert base["u0"] is None and base["r0_u0"] is None and base["baseline_setting"] is None
    assert reg["auc"]["mean"] > base["auc"]["mean"] and reg["chance"] == pytest.approx(0.1)


def test_one_seed_has_no_interval_and_models_compare_one_by_one(client, world):
    body = compare(client, model_id=world["reg"][:1], evaluator="gaussian").json()
    (group,) = body["groups"]
    assert group["n"] == 1 and group["points"][1]["mean"] == 0.70
    assert group["points"][1]["low"] is None and group["auc"]["low"] is None


def test_perturbation_reports_compare_too_and_a_sweep_is_one_call(client, world):
    body = compare(client, sweep_id=world["sweep"], evaluator="boundary", group_by="setting").json()
    assert body["kind"] == "perturbation" and {g["n"] for g in body["groups"]} == {2, 3}
    reg = next(g for g in body["groups"] if g["key"] == world["setting"])
    mean, low, high = expected_interval([0.010, 0.014, 0.012])
    assert (reg["score"]["mean"], reg["score"]["low"], reg["score"]["high"]) == pytest.approx((mean, low, high))
    assert reg["spectrum"]["power"] == pytest.approx([0.7, 0.3]) and reg["success_rate"]["mean"] == 1.0
    per_model = compare(client, model_id=world["base"], evaluator="boundary").json()
    assert [g["score"]["mean"] for g in per_model["groups"]] == [0.006, 0.005]


def test_csv_and_figures(client, world):
    text = compare(client, setting=[world["setting"]], evaluator="gaussian", group_by="setting", format="csv").text
    header, *rows = text.strip().split("\n")
    assert header.startswith("group,label,result_label,n,strength,mean_accuracy,low,high") and len(rows) == 3
    assert math.isclose(float(rows[0].split(",")[5]), (0.90 + 0.86 + 0.88) / 3)
    png = compare(client, setting=[world["setting"], world["baseline"]], evaluator="gaussian", group_by="setting",
                  format="png")  # fmt: skip
    assert png.content.startswith(b"\x89PNG") and png.headers["content-type"] == "image/png"
    svg = compare(client, sweep_id=world["sweep"], evaluator="boundary", group_by="setting", format="svg").text
    assert "<svg" in svg


def test_a_name_that_a_spreadsheet_would_evaluate_stays_text_in_every_csv(client, world):
    formula = '=HYPERLINK("http://evil.example","open me")'
    renamed = client.patch(f"/v1/models/{world['reg'][0]}", headers=auth(client), json={"name": formula})
    assert renamed.status_code == 200, renamed.text
    with session_scope(client.settings.database_url) as session:
        model = session.get(Model, world["reg"][0])
        model.history = [{"epoch": 0, "valid_acc": 0.1}, {"epoch": 1, "valid_acc": 0.5}]
    for path, params in (("/v1/compare", {"evaluator": "gaussian"}), ("/v1/compare/history", {})):
        response = client.get(path, headers=auth(client, "bob"),
                              params={"model_id": world["reg"][:1], "format": "csv", **params})  # fmt: skip
        assert response.status_code == 200, response.text
        labels = {row[1] for row in csv.reader(io.StringIO(response.text))} - {"label"}
        assert labels == {"'" + formula}, labels


def test_a_settings_colour_does_not_depend_on_the_query():
    assert color_for("abc") == color_for("abc") and color_for("abc").startswith("#")
    assert len({color_for(f"setting{i}") for i in range(40)}) > 8


def test_what_cannot_be_compared_says_why(client, world):
    for params, field in (({"evaluator": "gaussian"}, "model_id"),
                          ({"model_id": world["lone"], "evaluator": "gaussian"}, "evaluator"),
                          ({"model_id": world["reg"][0], "evaluator": "pgd"}, "evaluator")):  # fmt: skip
        response = client.get("/v1/compare", headers=auth(client), params=params)
        assert response.status_code == 422 and response.json()["error"]["details"]["field"] == field, response.text
    assert client.get("/v1/compare", headers=auth(client), params={"setting": "0" * 12, "evaluator": "gaussian"}
                      ).status_code == 404  # fmt: skip


def test_spectra_of_settings_and_svg_text_that_stays_text(client, world):
    svg = compare(client, setting=[world["setting"], world["baseline"]], evaluator="boundary", group_by="setting",
                  format="svg", plot="spectrum").text  # fmt: skip
    assert "<svg" in svg and "small_cnn mnist-5k a1 Th0.2 e3 (n=3)" in svg and "cutoff 0.25" in svg  # text, not paths
