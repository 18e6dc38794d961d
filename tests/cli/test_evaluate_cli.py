import json

from typer.testing import CliRunner

from cli.main import app
from sthlib.specs import preset
from sthlib.train import Trainer

runner = CliRunner()


def test_sth_evaluate_writes_json_csv_and_figures(tmp_path):
    checkpoint = tmp_path / "tiny.safetensors"
    trainer = Trainer(preset("smoke", epochs=1, train_limit=600, test_limit=100, **{"reg.n_images": 200}))
    trainer.fit()
    trainer.save_best(checkpoint)
    out = tmp_path / "eval"
    result = runner.invoke(app, ["evaluate", str(checkpoint), "-a", "gaussian", "-a", "boundary", "--n-images", "40",
                                 "--steps", "5", "--repeats", "2", "-p", "strengths=[0, 0.3]",
                                 "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    curve = json.loads((out / "tiny_gaussian.json").read_text())
    assert curve["kind"] == "curve" and [p["strength"] for p in curve["points"]] == [0, 0.3]
    assert (out / "tiny_gaussian.csv").read_text().startswith("model,evaluator")
    report = json.loads((out / "tiny_boundary.json").read_text())
    assert report["n"] == 40 and report["params"]["steps"] == 5 and report["summary"]["repeats"] == 2
    assert "||d||^2/D" in result.output and "40 x 2" in result.output and "best" in result.output
    assert (out / "tiny_gaussian.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "tiny_boundary_spectrum.svg").exists()


def test_sth_evaluate_rejects_unknown_evaluators_and_parameters(tmp_path):
    result = runner.invoke(app, ["evaluate", str(tmp_path / "x.safetensors"), "-a", "gaussian", "-p", "sigma=1"])
    assert result.exit_code == 2 and "unknown parameter" in result.output
