import threading
import time

import numpy as np

from api import similarity
from sthlib.data import load_dataset, uploads_dir


def _write_upload(name, images):
    uploads_dir().mkdir(parents=True, exist_ok=True)
    partial = uploads_dir() / f".{name}.partial"
    with partial.open("wb") as f:
        np.savez(f, images=images, labels=np.zeros(len(images), np.int64))
    partial.replace(uploads_dir() / f"{name}.npz")  # as store.datasets.materialize writes it


def test_concurrent_identical_requests_load_and_compute_once(tmp_path, monkeypatch):
    monkeypatch.setenv("STH_DATA_DIR", str(tmp_path))
    _write_upload("noise", np.random.default_rng(0).integers(0, 256, (300, 8, 8), dtype=np.uint8))
    loads = []

    def slow_load(*args):
        loads.append(args)
        time.sleep(0.3)  # every request arrives while the first one loads
        return load_dataset(*args)

    monkeypatch.setattr(similarity, "load_dataset", slow_load)
    results = []

    def ask():
        results.append(similarity.summary("upload:noise", "gray", 200, 0.5, None))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 6 and all(r == results[0] for r in results) and results[0]["n"] == 200
    assert loads == [("upload:noise", "train", "gray")]
    similarity.summary("upload:noise", "gray", 100, 0.5, None)  # other parameters: the loaded images are reused
    assert len(loads) == 1


def test_another_file_under_the_same_name_is_another_version(tmp_path, monkeypatch):
    """Upload names are immutable in one database, but the file at uploads/NAME.npz can be another one (another
    database, fetched again): the cache is keyed by the file, not by the name."""
    monkeypatch.setenv("STH_DATA_DIR", str(tmp_path))
    rng = np.random.default_rng(1)
    _write_upload("x", rng.integers(0, 256, (50, 8, 8), dtype=np.uint8))
    first = similarity.summary("upload:x", "gray", 50, 0.5, None)
    _write_upload("x", np.zeros((20, 8, 8), np.uint8))
    second = similarity.summary("upload:x", "gray", 50, 0.5, None)
    assert first["n"] == 50 and second["n"] == 20
