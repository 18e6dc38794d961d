import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sthlib.data import (
    DatasetError,
    availability,
    dataset_info,
    load_dataset,
    to_grayscale,
    train_valid_split,
)


def test_mnist5k_split_is_stratified_interleaved_and_disjoint():
    train_x, train_y = load_dataset("mnist-5k", "train")
    test_x, test_y = load_dataset("mnist-5k", "test")
    assert train_x.shape == (4000, 1, 28, 28) and train_x.dtype == np.uint8
    assert test_x.shape == (1000, 1, 28, 28) and train_y.dtype == np.int64
    assert np.bincount(train_y).tolist() == [400] * 10
    assert np.bincount(test_y).tolist() == [100] * 10
    assert train_y[:20].tolist() == list(range(10)) * 2  # any prefix is class-balanced
    train_rows = {row.tobytes() for row in train_x}
    assert not any(row.tobytes() in train_rows for row in test_x)


def test_fashion_mnist_from_debian_package():
    if not availability("fashion-mnist").available:
        pytest.skip("dataset-fashion-mnist is not installed (.ci/run installs it)")
    x, y = load_dataset("fashion-mnist", "test")
    assert x.shape == (10000, 1, 28, 28) and np.bincount(y).tolist() == [1000] * 10
    rgb, _ = load_dataset("fashion-mnist", "test", color="rgb")
    assert rgb.shape == (10000, 3, 28, 28) and (rgb[:, 0] == x[:, 0]).all() and (rgb[:, 2] == x[:, 0]).all()


def test_grayscale_matches_pil_luma():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(16, 3, 8, 8), dtype=np.uint8)
    ours = to_grayscale(rgb)[:, 0]
    pil = np.stack([np.asarray(Image.fromarray(img.transpose(1, 2, 0)).convert("L")) for img in rgb])
    assert (ours == pil).all()


def _write_idx(path: Path, array: np.ndarray) -> None:
    code = {np.uint8: 0x08}[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def test_torchvision_layout_under_sth_data_dir(tmp_path, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    for prefix in ("train", "t10k"):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", labels)
    monkeypatch.setenv("STH_DATA_DIR", str(tmp_path))
    x, y = load_dataset("mnist", "test")
    assert (x[:, 0] == images).all() and y.tolist() == list(range(7))


def test_cifar_binary_format(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        records = rng.integers(0, 256, (3, 1 + 3072), dtype=np.uint8)
        records[:, 0] = [3, 1, 4]
        records.tofile(folder / f"{name}.bin")
    monkeypatch.setenv("STH_DATA_DIR", str(tmp_path))
    x, y = load_dataset("cifar10", "train", color="rgb")
    assert x.shape == (15, 3, 32, 32) and y.tolist() == [3, 1, 4] * 5
    gray, _ = load_dataset("cifar10", "train")
    assert gray.shape == (15, 1, 32, 32) and (gray == to_grayscale(x)).all()


def test_missing_dataset_names_paths_and_remedy(tmp_path, monkeypatch):
    monkeypatch.setenv("STH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("STH_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(DatasetError) as err:
        load_dataset("cifar100")
    message = str(err.value)
    assert str(tmp_path / "cifar-100-binary") in message and str(tmp_path / "cifar-100-python") in message
    assert "STH_ALLOW_DOWNLOAD=1" in message
    assert not any(tmp_path.iterdir())  # nothing was downloaded


def test_unknown_dataset_lists_the_valid_ones():
    with pytest.raises(DatasetError, match="fashion-mnist, mnist, mnist-5k"):
        load_dataset("imagenet")


def test_npz_dataset(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "mine.npz"
    np.savez(path, images=rng.random((10, 16, 16, 3)), labels=np.arange(10) % 4,
             test_images=rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8), test_labels=np.arange(5))  # fmt: skip
    x, y = load_dataset(f"npz:{path}", "train", color="rgb")
    assert x.shape == (10, 3, 16, 16) and x.dtype == np.uint8 and y.tolist() == [0, 1, 2, 3] * 2 + [0, 1]
    assert dataset_info(f"npz:{path}").num_classes == 5
    assert load_dataset(f"npz:{path}", "test")[0].shape == (5, 1, 16, 16)


def test_npz_with_pickled_objects_is_rejected_not_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, images=np.array([{"a": 1}], dtype=object), labels=np.zeros(1, dtype=np.int64))
    with pytest.raises(DatasetError, match="without pickles"):
        load_dataset(f"npz:{path}")


def test_npz_without_test_split_says_what_to_add(tmp_path):
    path = tmp_path / "train_only.npz"
    np.savez(path, images=np.zeros((4, 8, 8), np.uint8), labels=np.zeros(4, np.int64))
    with pytest.raises(DatasetError, match="test_images"):
        load_dataset(f"npz:{path}", "test")


def test_train_valid_split_is_deterministic_and_disjoint():
    train, valid = train_valid_split(1000)
    assert len(valid) == 10 and len(train) == 990
    assert not set(train) & set(valid)
    again_train, again_valid = train_valid_split(1000)
    assert (valid == again_valid).all() and (train == again_train).all()
    assert not (train_valid_split(1000, seed=1)[1] == valid).all()


@pytest.mark.parametrize(("dataset", "shape"), [("mnist", (20, 1, 28, 28)), ("cifar10", (20, 3, 32, 32))])
def test_foolbox_samples(dataset, shape):
    from sthlib.data import foolbox_samples

    x, y = foolbox_samples(dataset)
    assert x.shape == shape and x.dtype == np.uint8 and y.dtype == np.int64 and len(y) == 20
