import pickle

import pytest
import torch

from sthlib.checkpoint import CheckpointError, join_tensors, load_model, read_metadata, save_model, split_tensors
from sthlib.models import build_model


def test_model_checkpoint_round_trips_bit_for_bit(tmp_path):
    torch.manual_seed(0)
    model = build_model("small_cnn", 3, 7)
    with torch.no_grad():
        model.tap_mean_1.uniform_()
    path = tmp_path / "m.safetensors"
    save_model(path, model, "small_cnn", 7, spec={"arch": "small_cnn"}, metrics={"test_acc": 0.5})
    loaded, meta = load_model(path)
    assert meta["arch"] == "small_cnn" and meta["in_channels"] == 3 and meta["metrics"]["test_acc"] == 0.5
    assert "torch" in meta["versions"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_a_pickle_is_rejected_and_never_unpickled(tmp_path):
    path = tmp_path / "evil.safetensors"
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_model(path)
    assert not marker.exists()
    torch.save(build_model("small_cnn", 1, 10).state_dict(), path)  # a torch .pt (zip of pickles)
    with pytest.raises(CheckpointError):
        load_model(path)


def test_weights_that_do_not_fit_the_architecture(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, build_model("small_cnn", 1, 10), "resnet18", 10)  # metadata lies about the architecture
    with pytest.raises(CheckpointError, match=r"do not fit the architecture.*missing"):
        load_model(path)


def test_metadata_is_required(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="no STh Lab metadata"):
        read_metadata(path)


def test_optimizer_state_survives_json_and_safetensors():
    model = build_model("small_cnn", 1, 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.rand(2, 1, 28, 28)).sum().backward()
    opt.step()
    tensors: dict[str, torch.Tensor] = {}
    restored = join_tensors(split_tensors(opt.state_dict(), "opt", tensors), tensors)
    fresh = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    fresh.load_state_dict(restored)
    assert fresh.param_groups[0]["lr"] == 0.1
    for k, state in opt.state_dict()["state"].items():
        assert torch.equal(fresh.state_dict()["state"][k]["momentum_buffer"], state["momentum_buffer"])
