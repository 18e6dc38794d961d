import gzip
import io
import zipfile
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
from tests.sthlib.fakes import write_cifar10_bin


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
    write_cifar10_bin(tmp_path, [3, 1, 4], seed=2)
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


def npy_bytes(shape, descr="<f8", data=b"", fortran_order=False):
    """A .npy member whose header claims any shape, followed by any data (a lying file, as a client could send)."""
    from numpy.lib import format as npy_format

    out = io.BytesIO()
    npy_format.write_array_header_1_0(out, {"descr": descr, "fortran_order": fortran_order, "shape": shape})
    return out.getvalue() + data


def write_npz(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)
    return path


def _damaged_deflate(path):
    """A valid header and 16 KiB of the images' data, then a deflate block of the reserved type 3 (zlib.error; the
    old reader let it escape as a 500). Written as a stored member, then relabelled deflated with its sizes."""
    import struct
    import zlib

    head = npy_bytes((64, 8, 8))
    deflate = zlib.compressobj(wbits=-15)
    stream = deflate.compress(head + bytes(16384)) + deflate.flush(zlib.Z_FULL_FLUSH) + b"\xff" * 64
    write_npz(path, {"images": stream, "labels": npy_bytes((64,), "<i8", bytes(512))}, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    directory = data.index(b"PK\x01\x02")
    for start, method, size in ((0, 8, 22), (directory, 10, 24)):  # the images' local header and directory entry
        data[start + method : start + method + 2] = struct.pack("<H", zipfile.ZIP_DEFLATED)
        data[start + size : start + size + 4] = struct.pack("<I", len(head) + 64 * 64 * 8)
    path.write_bytes(bytes(data))


def _claims_200_gb(path):
    write_npz(path, {"images": npy_bytes((32_000_000, 28, 28), data=bytes(64)), "labels": npy_bytes((4,), "<i8")})


def _longer_than_claimed(path):
    write_npz(
        path, {"images": npy_bytes((4, 8, 8), data=bytes(4 * 64 * 8 + 8)), "labels": npy_bytes((4,), "<i8", bytes(32))}
    )


@pytest.mark.parametrize(
    ("make", "says"),
    [(_claims_200_gb, "by their headers"), (_damaged_deflate, "damaged"), (_longer_than_claimed, "more data")],
)
def test_an_npz_is_judged_by_its_headers_and_streamed_data(tmp_path, make, says):
    """A header's claim is checked before anything is inflated (the zip itself says the member is tiny: the old
    check trusted that and allocated 200 GB); damaged or over-long data is a DatasetError, never a crash."""
    from sthlib.data.npz import inspect_npz

    path = tmp_path / "lying.npz"
    make(path)
    with pytest.raises(DatasetError, match=says):
        inspect_npz(path, "upload:lying", 1 << 30)


def test_float_images_are_checked_and_converted_a_chunk_at_a_time(tmp_path, monkeypatch):
    """The memory issue's file in small: float64 zeros inflating to 31 MB. Checking it, writing its uint8 copy and
    reading it back hold a few chunks and the uint8 result, never the float array (tracemalloc sees numpy's
    allocations)."""
    import tracemalloc

    from sthlib.data import npy
    from sthlib.data.npz import NpzSource, inspect_npz

    monkeypatch.setattr(npy, "CHUNK_BYTES", 1 << 20)
    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, images=np.zeros((5000, 28, 28)), labels=np.zeros(5000, np.int64))
    floats, uint8 = 5000 * 28 * 28 * 8, 5000 * 28 * 28
    tracemalloc.start()
    try:
        checked = inspect_npz(path, "upload:zeros", 1 << 30, tmp_path / "copy.npz")
        checking = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        images, labels = NpzSource(path).read(path, "train")
        reading = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert checked.converted and checked.splits == {"train": 5000}
    assert checking < floats // 4, checking  # before: the whole float array and more
    assert reading < uint8 + floats // 4, reading
    assert images.shape == (5000, 1, 28, 28) and images.dtype == np.uint8 and not images.any()
    copied, copied_labels = NpzSource(tmp_path / "copy.npz").read(tmp_path / "copy.npz", "train")
    assert np.array_equal(copied, images) and np.array_equal(copied_labels, labels)


def test_an_uploads_uint8_copy_reads_exactly_as_its_floats(tmp_path):
    from sthlib.data.npz import inspect_npz

    rng = np.random.default_rng(4)
    floats = tmp_path / "floats.npz"
    images = np.asfortranarray(rng.random((6, 8, 8, 3), np.float32))  # NHWC, stored column-major
    np.savez(floats, images=images, labels=np.arange(6), test_images=rng.random((3, 3, 8, 8)),
             test_labels=np.arange(3, dtype=np.uint8), extra=np.ones(2))  # fmt: skip
    checked = inspect_npz(floats, "upload:f", 1 << 30, tmp_path / "copy.npz")
    assert checked.converted and checked.info.num_classes == 6
    with np.load(tmp_path / "copy.npz") as f:
        assert sorted(f.files) == ["images", "labels", "test_images", "test_labels"]
        assert f["images"].dtype == np.uint8 and f["test_labels"].dtype == np.int64
    for split in ("train", "test"):
        for color in ("gray", "rgb"):
            a, b = (load_dataset(f"npz:{p}", split, color) for p in (floats, tmp_path / "copy.npz"))
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    uint8 = tmp_path / "uint8.npz"
    np.savez(uint8, images=rng.integers(0, 256, (4, 8, 8), dtype=np.uint8), labels=np.arange(4))
    assert not inspect_npz(uint8, "upload:u", 1 << 30, tmp_path / "unused.npz").converted
    assert not (tmp_path / "unused.npz").exists()
