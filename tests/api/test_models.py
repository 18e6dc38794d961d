import hashlib
import pickle

import torch
from safetensors.torch import save_file

from sthlib.models import build_model
from tests.api.conftest import auth


def test_upload_an_sthlib_checkpoint_and_download_it_back(client, tiny_checkpoint):
    data = tiny_checkpoint.read_bytes()
    response = client.post("/v1/models", headers=auth(client), data={"name": "tiny"},
                           files={"file": ("tiny.safetensors", data)})  # fmt: skip
    assert response.status_code == 201, response.text
    model = response.json()
    assert (model["arch"], model["dataset"], model["in_channels"], model["num_classes"]) == (
        "small_cnn",
        "mnist-5k",
        1,
        10,
    )
    assert model["origin"] == "uploaded" and model["sha256"] == hashlib.sha256(data).hexdigest()
    download = client.get(f"/v1/models/{model['id']}/checkpoint", headers=auth(client, "bob"))
    assert download.content == data and download.headers["X-Checksum-SHA256"] == model["sha256"]
    assert [m["id"] for m in client.get("/v1/models", headers=auth(client, "bob")).json()] == [model["id"]]


def test_a_pickle_is_refused_and_never_loaded(client, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for payload in (pickle.dumps(Evil()), _torch_pt(tmp_path)):
        response = client.post("/v1/models", headers=auth(client), data={"name": "evil", "arch": "small_cnn",
                               "dataset": "mnist-5k"}, files={"file": ("evil.safetensors", payload)})  # fmt: skip
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["field"] == "file"
    assert not marker.exists()
    assert client.get("/v1/models", headers=auth(client)).json() == []


def _torch_pt(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(build_model("small_cnn", 1, 10).state_dict(), path)
    return path.read_bytes()


def test_plain_safetensors_need_their_architecture_and_task(client, tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file(build_model("small_cnn", 3, 7).state_dict(), str(path))
    files = {"file": ("plain.safetensors", path.read_bytes())}
    missing = client.post("/v1/models", headers=auth(client), data={"name": "p"}, files=files)
    assert missing.status_code == 422 and missing.json()["error"]["details"]["field"] == "arch"
    ok = client.post("/v1/models", headers=auth(client), data={"name": "p", "arch": "small_cnn", "dataset": "cifar10"},
                     files=files)  # fmt: skip
    assert ok.status_code == 201 and (ok.json()["num_classes"], ok.json()["color"]) == (7, "rgb")
    assert ok.json()["input_scale"] == "centered5"


def test_uploads_are_size_limited_and_need_a_key(client):
    big = b"\0" * (6 << 20)
    response = client.post("/v1/models", headers=auth(client), data={"name": "big"}, files={"file": ("b", big)})
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert client.post("/v1/models", data={"name": "x"}, files={"file": ("x", b"x")}).status_code == 401
