import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from store.blobs import put_blob
from store.datasets import materialize
from store.db import session_factory, session_scope
from store.keys import create_user
from store.models import BlobChunk, Dataset


@pytest.fixture
def uploaded(database_url):
    data = os.urandom(300_000)
    with session_scope(database_url) as session:
        owner = create_user(session, "alice")
        blob = put_blob(session, data, chunk_bytes=64 << 10)
        session.add(Dataset(name="digits", owner_id=owner.id, blob_id=blob.id, info={}))
    return data


def test_a_missing_or_damaged_copy_is_written_again_from_the_database(database_url, uploaded, tmp_path):
    tmp_path = tmp_path / "uploads"  # the SQLite database lives in tmp_path itself
    with session_scope(database_url) as session:
        path = materialize(session, "digits", tmp_path)
        assert path == tmp_path / "digits.npz" and path.read_bytes() == uploaded
        path.write_bytes(uploaded[:-1] + b"!")  # same size, other bytes
        assert materialize(session, "digits", tmp_path).read_bytes() == uploaded
        with pytest.raises(KeyError):
            materialize(session, "nope", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["digits.npz"]


def test_threads_fetching_one_dataset_do_not_collide(database_url, uploaded, tmp_path):
    tmp_path = tmp_path / "uploads"  # the SQLite database lives in tmp_path itself
    sessions = session_factory(database_url)

    def fetch(_):
        with sessions() as session:
            return materialize(session, "digits", tmp_path).read_bytes() == uploaded

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(fetch, range(8)))
    assert [p.name for p in tmp_path.iterdir()] == ["digits.npz"]


def test_a_corrupt_stored_file_is_refused_and_leaves_nothing(database_url, uploaded, tmp_path):
    tmp_path = tmp_path / "uploads"  # the SQLite database lives in tmp_path itself
    with session_scope(database_url) as session:
        blob_id = session.query(Dataset).one().blob_id
        session.get(BlobChunk, (blob_id, 1)).data = b"x" * (64 << 10)
        session.flush()
        with pytest.raises(ValueError, match="corrupt"):
            materialize(session, "digits", tmp_path)
    assert not list(tmp_path.iterdir())
