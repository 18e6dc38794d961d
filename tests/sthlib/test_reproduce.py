"""Reproduction reports: protocols plan as one-setting sweeps, claims read and cite per-seed values, the report's
numbers come from the results it cites, and `--local` runs the tiny protocol end to end."""

import json

import pytest

from sthlib.evaluate.metrics import normalized_auc
from sthlib.evaluate.results import RobustnessCurve
from sthlib.reproduce.claims import CLAIMS, Cited, ModelResults
from sthlib.reproduce.protocols import PROTOCOLS, get_protocol
from sthlib.reproduce.report import ReportInputs, Side, build, render_html
from sthlib.validation import SpecError


def curve(evaluator, accuracies, group="", corruption=None):
    params = {"corruption": corruption} if corruption else {}
    points = [{"strength": float(i), "accuracy": a, "accuracy_on_correct": a, "n": 100}
              for i, a in enumerate(accuracies)]  # fmt: skip
    return {"kind": "curve", "evaluator": evaluator, "params": params, "x_name": "sigma", "x_unit": "pixel",
            "points": points, "model": "", "group": group}  # fmt: skip


def model(side, seed, acc, gaussian, score, low_power, high, low):
    key = f"{side}-{seed}"
    results = [Cited(f"{key}:g", "gaussian", "", curve("gaussian", gaussian)),
               Cited(f"{key}:b", "boundary", "", {"kind": "perturbation", "summary": {"score": score},
                                                   "spectrum": {"power_below_cutoff": low_power}}),
               Cited(f"{key}:c1", "corruption", "gaussian_noise", curve("corruption", high, "high", "gaussian_noise")),
               Cited(f"{key}:c2", "corruption", "fog", curve("corruption", low, "low", "fog"))]  # fmt: skip
    return ModelResults(key, seed, acc, results)


BASELINE = [model("base", 0, 0.95, [0.95, 0.3, 0.1], 0.004, 0.30, [0.9, 0.2], [0.9, 0.8]),
            model("base", 1, 0.94, [0.94, 0.35, 0.1], 0.005, 0.32, [0.9, 0.25], [0.9, 0.7]),
            model("base", 2, 0.96, [0.96, 0.28, 0.1], 0.004, 0.29, [0.9, 0.22], [0.9, 0.75])]  # fmt: skip
STH = [model("sth", 0, 0.92, [0.92, 0.6, 0.3], 0.008, 0.45, [0.9, 0.6], [0.9, 0.8]),
       model("sth", 1, 0.91, [0.91, 0.65, 0.35], 0.009, 0.47, [0.9, 0.65], [0.9, 0.72]),
       model("sth", 2, 0.93, [0.93, 0.55, 0.33], 0.007, 0.44, [0.9, 0.58], [0.9, 0.74])]  # fmt: skip


def inputs():
    evaluators = [{"name": n, "params": {}} for n in ("gaussian", "boundary", "corruption")]
    return ReportInputs("hand-built", [0, 1, 2], Side("b" * 12, "baseline", {}, BASELINE),
                        Side("s" * 12, "sth", {}, STH), evaluators, header={"device": "none"})  # fmt: skip


def test_each_claim_reads_its_metric_cites_its_results_and_judges_paired_seeds():
    report = build(inputs())
    claims = {c["id"]: c for c in report["claims"]}
    assert "uniform" not in claims and "transfer-fgsm" not in claims  # not evaluated: not claimed
    gaussian = claims["gaussian"]
    for row in gaussian["per_seed"]:
        m = next(m for m in BASELINE + STH if m.model_id == row["model_id"])
        assert row["results"] == [f"{m.model_id}:g"]
        assert row["value"] == pytest.approx(normalized_auc(RobustnessCurve.from_dict(m.results[0].data)))
    assert gaussian["verdict"] == "holds" and claims["boundary"]["verdict"] == "holds"
    assert claims["low-frequency"]["verdict"] == "holds" and claims["corruptions-high"]["verdict"] == "holds"
    assert claims["corruptions-low"]["verdict"] == "inconclusive"
    assert claims["corruptions-high-most"]["verdict"] == "holds"  # high gains ~0.19 AUC, low ~0
    most = next(r for r in claims["corruptions-high-most"]["per_seed"] if r["model_id"] == "sth-0")
    assert most["value"] == pytest.approx((0.9 + 0.6) / 2 - (0.9 + 0.8) / 2) and len(most["results"]) == 2
    clean = claims["clean-accuracy"]
    assert clean["verdict"] == "holds" and clean["evidence"]["effect_is"] == "S^Th / baseline"
    assert report["summary"]["holds"] == 6 and sum(report["summary"].values()) == len(report["claims"])


def test_a_missing_metric_is_not_measured_and_the_page_shows_every_claim():
    no_scores = [ModelResults(m.model_id, m.seed, m.test_acc, [r for r in m.results if r.evaluator != "boundary"])
                 for m in BASELINE]  # fmt: skip
    data = inputs()
    data = ReportInputs(data.protocol, data.seeds, Side("b" * 12, "baseline", {}, no_scores), data.sth,
                        data.evaluators, header=data.header)  # fmt: skip
    report = build(data)
    claims = {c["id"]: c for c in report["claims"]}
    assert claims["boundary"]["verdict"] == "not measured" and claims["boundary"]["evidence"] is None
    page = render_html(report, {"gaussian": "<?xml version='1.0'?><svg><text>x</text></svg>"})
    assert all(f"id='{c['id']}'" in page for c in report["claims"]) and "<?xml" not in page
    assert "<svg><text>x</text></svg>" in page and "not measured" in page and "src=" not in page


def test_protocols_plan_a_baseline_per_seed_and_the_transfer_source():
    for protocol in PROTOCOLS.values():
        roles = [t.role for t in protocol.sweep().trainings()]
        seeds = len(protocol.seeds)
        assert roles.count("setting") == seeds and roles.count("baseline") == seeds and roles.count("source") == 1
        assert {c["name"] for c in protocol.to_dict()["evaluators"]} >= {"gaussian", "boundary", "corruption"}
    with pytest.raises(SpecError) as error:
        get_protocol("tiny", test_only_ok=True).sweep(changes={"reg": {"threshold": 2}})
    assert error.value.field == "changes.reg.threshold"
    with pytest.raises(SpecError, match="alpha must be > 0"):
        get_protocol("fashion-mnist").sweep(changes={"reg": {"alpha": 0}})
    with pytest.raises(SpecError, match="choose one of") as error:
        get_protocol("tiny", test_only_ok=False)
    assert str(error.value).endswith("choose one of cifar10-gray, fashion-mnist, mnist, mnist-cpu")
    assert get_protocol("tiny", test_only_ok=True).sweep([5]).seeds == (5,)


def test_sth_reproduce_local_runs_the_tiny_protocol_and_its_report_reads_back_from_its_results(tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    run = CliRunner().invoke(app, ["reproduce", "tiny", "--local", "--seeds", "0,1", "--out", str(tmp_path),
                                   "--device", "cpu"], env={"COLUMNS": "80"})  # fmt: skip
    assert run.exit_code == 0, run.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["seeds"] == [0, 1] and "training source-s2" in run.output
    assert all(claim["id"] in run.output for claim in report["claims"])
    results = json.loads((tmp_path / "results.json").read_text())
    checked = 0
    for claim in report["claims"]:
        reader = next(c for c in CLAIMS if c.id == claim["id"])
        for row in claim["per_seed"]:
            if not row["results"]:
                continue
            cited = [Cited(i, results[i]["evaluator"], "", results[i]) for i in row["results"]]
            value = reader.read(ModelResults(row["model_id"], row["seed"], 0.0, cited))
            assert (None if value is None else value[0]) == pytest.approx(row["value"]), claim["id"]
            checked += 1
    assert checked >= 20
    page = (tmp_path / "report.html").read_text()
    assert page.count("<svg") >= 3 and "mnist-5k" in page and report["header"]["data sha256"]["mnist-5k"]
    bad = CliRunner().invoke(app, ["reproduce", "tiny", "--local", "--set", "reg.threshold=2"])
    assert bad.exit_code == 2 and "changes.reg.threshold" in bad.output
    listing = CliRunner().invoke(app, ["reproduce", "--list"], env={"COLUMNS": "80"})
    assert "fashion-mnist" in listing.output and "tiny" not in listing.output
    assert all(len(line) <= 80 for line in listing.output.splitlines())
