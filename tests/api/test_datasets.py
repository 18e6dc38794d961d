import hashlib
import io
import pickle
import zipfile

import numpy as np
import pytest

from sthlib.data import load_dataset, uploads_dir
from sthlib.simstats import similarity_summary, unit_vectors
from tests.api.conftest import auth


def npz_bytes(compressed=False, **arrays):
    out = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(out, **arrays)
    return out.getvalue()


@pytest.fixture(scope="module")
def digits(mnist5k_train):
    """200 real training digits and 50 test digits, as a user would export them: NHW uint8."""
    test_images, test_labels = load_dataset("mnist-5k", "test")
    return npz_bytes(images=mnist5k_train[0][:200, 0], labels=mnist5k_train[1][:200],
                     test_images=test_images[:50, 0], test_labels=test_labels[:50])  # fmt: skip


def upload(client, data, name="digits", who="alice", **form):
    return client.post("/v1/datasets", headers=auth(client, who), data={"name": name, **form},
                       files={"file": (f"{name}.npz", data)})  # fmt: skip


def test_an_upload_is_checked_stored_listed_and_on_disk(client, digits):
    response = upload(client, digits, description="200 digits")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "upload:digits" and body["origin"] == "uploaded" and body["owner"] == "alice"
    assert (body["classes"], body["channels"], body["size"]) == (10, 1, 28)
    assert body["splits"] == {"train": 200, "test": 50} and body["bytes"] == len(digits)
    assert body["sha256"] == hashlib.sha256(digits).hexdigest() and body["description"] == "200 digits"
    assert (uploads_dir() / "digits.npz").read_bytes() == digits
    assert not [p for p in uploads_dir().iterdir() if p.name.startswith(".")]  # no partial files left behind
    listed = {d["name"]: d for d in client.get("/v1/datasets", headers=auth(client, "bob")).json()}
    assert listed["upload:digits"] == body and listed["mnist-5k"]["origin"] == "builtin"
    assert client.get("/v1/datasets/upload:digits", headers=auth(client, "bob")).json() == body
    assert client.get("/v1/datasets/mnist-5k", headers=auth(client)).json()["available"]
    for missing in ("upload:nope", "nope"):
        assert client.get(f"/v1/datasets/{missing}", headers=auth(client)).status_code == 404


def test_names_are_unique_and_well_formed(client, digits):
    assert upload(client, digits).status_code == 201
    again = upload(client, digits, who="bob")
    assert again.status_code == 409 and "already exists" in again.json()["error"]["message"]
    for bad in ("Digits", "../x", "a b", "-x", "x" * 49):
        response = upload(client, digits, name=bad)
        assert response.status_code == 422 and response.json()["error"]["details"]["field"] == "name", bad
    listed = client.get("/v1/datasets", headers=auth(client)).json()
    assert [d["name"] for d in listed if d["origin"] == "uploaded"] == ["upload:digits"]


def test_a_pickled_array_is_refused_and_never_loaded(client, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = np.empty(2, dtype=object)
    evil[:] = [Evil(), Evil()]
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:  # a .npz member that is a plain pickle, not .npy
        archive.writestr("labels.pkl", pickle.dumps(Evil()))
    for payload in (npz_bytes(images=evil, labels=np.zeros(2, np.int64)), raw.getvalue(), pickle.dumps(Evil())):
        response = upload(client, payload, name="evil")
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["field"] == "file"
    assert not marker.exists()
    assert not list(uploads_dir().iterdir())


@pytest.mark.parametrize(
    ("arrays", "says"),
    [
        ({"images": np.zeros((4, 8, 8), np.uint8)}, "'labels'"),
        ({"images": np.zeros((4, 8, 8), np.uint8), "labels": np.zeros(3, np.int64)}, "labels must have shape (4,)"),
        ({"images": np.full((4, 8, 8), 2.0), "labels": np.zeros(4, np.int64)}, "in [0, 1]"),
        ({"images": np.zeros((4, 5, 8, 8), np.uint8), "labels": np.zeros(4, np.int64)}, "1 or 3 channels"),
        ({"images": np.zeros((4, 8, 6), np.uint8), "labels": np.zeros(4, np.int64)}, "square"),
        ({"images": np.zeros((4, 8, 8), np.uint8), "labels": -np.ones(4, np.int64)}, "non-negative"),
        ({"images": np.zeros((1, 8, 8), np.uint8), "labels": np.zeros(1, np.int64)}, "at least 2 images"),
        ({"images": np.zeros((4, 8, 8), np.uint8), "labels": np.zeros(4, np.int64),
          "test_images": np.zeros((2, 8, 8), np.uint8), "test_labels": np.zeros(3, np.int64)}, "test_labels"),
    ],
)  # fmt: skip
def test_a_malformed_dataset_says_what_is_wrong(client, arrays, says):
    response = upload(client, npz_bytes(**arrays), name="bad")
    assert response.status_code == 422, response.text
    assert says in response.json()["error"]["message"]
    assert "/" not in response.json()["error"]["message"]  # the server's paths stay private


def test_uploads_are_size_limited_before_and_after_inflating(client):
    limit = client.settings.max_dataset_bytes
    big = upload(client, np.random.default_rng(0).bytes(limit + 1), name="big")
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"
    bomb = npz_bytes(compressed=True, images=np.zeros((limit // 64 + 1, 8, 8), np.uint8),
                     labels=np.zeros(limit // 64 + 1, np.int64))  # fmt: skip
    assert len(bomb) < limit
    response = upload(client, bomb, name="bomb")
    assert response.status_code == 422 and "uncompressed" in response.json()["error"]["message"]
    assert client.post("/v1/datasets", data={"name": "x"}, files={"file": ("x.npz", b"")}).status_code == 401


def test_jobs_name_an_upload_and_never_a_server_path(client, digits):
    upload(client, digits)
    (uploads_dir() / "digits.npz").unlink()  # as on another API machine: fetched again from the database
    response = client.post("/v1/train-jobs", headers=auth(client),
                           json={"preset": "smoke", "spec": {"dataset": "upload:digits", "epochs": 1,
                                                            "reg": {"n_images": 100}}})  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["dataset"] == "upload:digits"
    assert (uploads_dir() / "digits.npz").read_bytes() == digits
    for dataset, says in (("upload:nope", "no uploaded dataset"), ("npz:/etc/data.npz", "POST /v1/datasets")):
        response = client.post("/v1/train-jobs", headers=auth(client),
                               json={"preset": "smoke", "spec": {"dataset": dataset}})  # fmt: skip
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert says in error["message"] and error["details"]["field"] == "spec.dataset"
    noise = np.random.default_rng(0).integers(0, 256, (10, 8, 8), dtype=np.uint8)
    train_only = upload(client, npz_bytes(images=noise, labels=np.arange(10)), name="pairs")
    assert train_only.status_code == 201
    no_test = client.post("/v1/train-jobs", headers=auth(client),
                          json={"preset": "smoke", "spec": {"dataset": "upload:pairs"}})  # fmt: skip
    assert no_test.status_code == 422 and "no test split" in no_test.json()["error"]["message"]
    as_reg = {"preset": "smoke", "spec": {"reg": {"dataset": "upload:pairs", "n_images": 10}}}
    as_reg = client.post("/v1/train-jobs", headers=auth(client), json=as_reg)
    assert as_reg.status_code == 201, as_reg.text
    reg = client.post("/v1/train-jobs", headers=auth(client),
                      json={"preset": "smoke", "spec": {"reg": {"dataset": "upload:nope"}}})  # fmt: skip
    assert reg.status_code == 422 and reg.json()["error"]["details"]["field"] == "spec.reg.dataset"


def test_similarity_is_sthlibs_summary_of_the_first_n_images(client, digits, mnist5k_train):
    response = client.get("/v1/datasets/mnist-5k/similarity", headers=auth(client),
                          params={"threshold": 0.5, "threshold_low": 0.1, "images": 300, "bins": 20})  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    expected = similarity_summary(unit_vectors(mnist5k_train[0][:300]), 0.5, 0.1, bins=20).to_dict()
    assert body == {"dataset": "mnist-5k", "color": "gray", **expected}
    assert body["pairs"] == 300 * 299 // 2 == sum(body["counts"]) and body["exact"]
    upload(client, digits)
    mine = client.get("/v1/datasets/upload:digits/similarity", headers=auth(client), params={"images": 5000}).json()
    assert mine["n"] == 200 and mine["threshold"] == 0.8  # all 200 training images; Th's default


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/datasets/nope/similarity", {}, 404),
        ("/v1/datasets/upload:nope/similarity", {}, 404),
        ("/v1/datasets/npz:/etc/x.npz/similarity", {}, 404),
        ("/v1/datasets/mnist-5k/similarity", {"threshold": 1.5}, 422),
        ("/v1/datasets/mnist-5k/similarity", {"images": 1}, 422),
        ("/v1/datasets/mnist-5k/similarity", {"threshold": 0.3, "threshold_low": 0.5}, 422),
        ("/v1/datasets/cifar10/similarity", {}, 422),
    ],
)
def test_similarity_refuses_what_it_cannot_answer(client, path, params, status):
    response = client.get(path, headers=auth(client), params=params)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("reg", "field", "says"),
    [
        ({"variant": "high", "threshold": 0.999, "n_images": 300}, "reg.threshold", "selects none"),
        ({"variant": "high", "threshold": 0.8, "n_images": 300, "pairs_per_step": 4000}, "reg.pairs_per_step",
         "exceeds the"),
        ({"n_images": 4001}, "reg.n_images", "exceeds the 4000 training images"),
    ],
)  # fmt: skip
def test_a_regularizer_without_pairs_to_train_is_refused_before_queueing(client, reg, field, says):
    response = client.post("/v1/train-jobs", headers=auth(client), json={"preset": "smoke", "spec": {"reg": reg}})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert says in error["message"] and error["details"]["field"] == f"spec.{field}"
    assert client.get("/v1/jobs", headers=auth(client)).json()["items"] == []


def test_the_apis_pair_count_is_the_trainers(client, mnist5k_train):
    """check_pairs counts with numpy; the worker's PairSampler with torch: the same pairs at the same threshold."""
    import torch

    from api.similarity import summary
    from sthlib.pairs import PairSampler
    from sthlib.similarity import unit_vectors as torch_unit_vectors

    r = torch_unit_vectors(mnist5k_train[0][:400])
    for variant, threshold, low in (("high", 0.5, None), ("low", 0.2, None), ("positive", 0.3, None),
                                    ("negative", 0.3, None), ("double", 0.6, 0.05)):  # fmt: skip
        found = summary("mnist-5k", "gray", 400, threshold, low)
        sampler = PairSampler(r, threshold, variant, low, explicit_limit=0)
        assert round(found["selected_fraction"][variant] * found["pairs"]) == sampler.selected_count, variant
    assert torch.equal(r, torch.from_numpy(unit_vectors(mnist5k_train[0][:400])))


def test_an_oversized_stream_is_cut_off_while_it_arrives(client):
    """No Content-Length (chunked): the body limit counts bytes as they come and answers 413 at the limit (the
    test client hands the body over whole; tests/e2e/test_serve_remote.py sends it to a real server)."""

    def body():
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.npz"\r\n\r\n'
        for _ in range(64):  # 64 x 256 KiB = 16 MiB against a 5 MiB limit
            yield b"x" * (256 << 10)

    response = client.post("/v1/datasets", headers={**auth(client), "Content-Type": "multipart/form-data; boundary=b"},
                           content=body())  # fmt: skip
    assert response.status_code == 413 and "STH_MAX_DATASET_BYTES" in response.json()["error"]["message"]
    declared = client.post("/v1/models", headers={**auth(client), "Content-Length": str(100 << 20),
                                                  "Content-Type": "multipart/form-data; boundary=b"},
                           content=b"x")  # fmt: skip
    assert declared.status_code == 413 and "STH_MAX_UPLOAD_BYTES" in declared.json()["error"]["message"]


def test_the_app_stops_reading_an_upload_at_its_limit(client):
    """Driven as a server drives it, one body message at a time: the app pulls little past the 5 MiB limit of the
    16 MiB offered, so an endless upload never fills the disk."""
    import anyio

    pulled, sent = 0, []
    prelude = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.npz"\r\n\r\n'

    async def receive():
        nonlocal pulled
        pulled += 1
        body = prelude if pulled == 1 else b"x" * (256 << 10)
        return {"type": "http.request", "body": body, "more_body": pulled < 65}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/datasets", "raw_path": b"/v1/datasets", "query_string": b"", "root_path": "",
             "headers": [(b"authorization", auth(client)["Authorization"].encode()),
                         (b"content-type", b"multipart/form-data; boundary=b")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}  # fmt: skip
    anyio.run(client.app, scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert 20 <= pulled <= 22  # 5 MiB + 64 KiB of overhead = the 21st message of 256 KiB


def test_arrays_are_sized_by_their_headers_and_float_images_are_kept_as_uint8(client):
    """A header claiming 200 GB behind a zip that declares a few bytes is a 422 before anything is inflated (it
    was an attempt to allocate 200 GB); float images are stored as the uint8 that training reads."""
    from numpy.lib import format as npy_format

    claim = io.BytesIO()
    npy_format.write_array_header_1_0(claim, {"descr": "<f8", "fortran_order": False, "shape": (32_000_000, 28, 28)})
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("images.npy", claim.getvalue() + bytes(64))
        labels = io.BytesIO()
        np.save(labels, np.zeros(4, np.int64))
        archive.writestr("labels.npy", labels.getvalue())
    response = upload(client, raw.getvalue(), name="claims")
    assert response.status_code == 422, response.text
    assert "by their headers" in response.json()["error"]["message"]
    rng = np.random.default_rng(5)
    images = rng.random((20, 8, 8, 3))
    sent = npz_bytes(compressed=True, images=images, labels=np.arange(20) % 3, test_images=images[:4],
                     test_labels=np.arange(4))  # fmt: skip
    body = upload(client, sent, name="floats").json()
    stored = (uploads_dir() / "floats.npz").read_bytes()
    assert body["sha256"] == hashlib.sha256(stored).hexdigest() != hashlib.sha256(sent).hexdigest()
    assert body["bytes"] == len(stored) and body["splits"] == {"train": 20, "test": 4} and body["channels"] == 3
    with np.load(uploads_dir() / "floats.npz") as f:
        assert f["images"].dtype == np.uint8
    x, _ = load_dataset("upload:floats", "train", "rgb")
    assert np.array_equal(x, np.rint(images * 255).astype(np.uint8).transpose(0, 3, 1, 2))
