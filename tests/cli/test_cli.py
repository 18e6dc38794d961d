import json

from typer.testing import CliRunner

from cli.main import app
from sthlib.checkpoint import load_model

runner = CliRunner()


def test_sth_train_writes_a_loadable_checkpoint_and_state(tmp_path):
    out = tmp_path / "m.safetensors"
    result = runner.invoke(app, ["train", "--preset", "smoke", "--epochs", "1", "--train-limit", "500",
                                 "--test-limit", "100", "--n-images", "200", "--out", str(out), "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    _, meta = load_model(out)
    assert meta["spec"]["epochs"] == 1 and meta["spec"]["reg"]["n_images"] == 200
    assert out.with_suffix(".state.safetensors").exists()


def test_sth_train_rejects_a_bad_flag_value_with_a_clear_message(tmp_path):
    result = runner.invoke(app, ["train", "--threshold", "1.5", "--out", str(tmp_path / "m.safetensors")])
    assert result.exit_code == 2
    assert "reg.threshold: must be < 1.0, got 1.5" in result.output


def test_sth_similarity_json():
    result = runner.invoke(app, ["similarity", "mnist-5k", "--threshold", "0.2", "--n-images", "300", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n"] == 300 and summary["selected_fraction"]["all"] == 1.0


def test_sth_presets_and_datasets_list():
    shown = runner.invoke(app, ["presets"], env={"COLUMNS": "80"}).output
    assert "│ quick                       │ resnet18_narrow │ 12     │ 4.0   │ 0.2 │ 1000 │" in shown  # nothing cut
    assert "quick on mnist-5k" in shown and max(len(line) for line in shown.splitlines()) <= 80
    assert "mnist-5k" in runner.invoke(app, ["datasets"]).output
