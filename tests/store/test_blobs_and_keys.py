import hashlib
import os

import pytest

from store.blobs import iter_blob, put_blob, read_blob
from store.db import session_scope
from store.keys import authenticate, create_key, create_user
from store.models import ApiKey, BlobChunk, Role, utcnow


@pytest.mark.parametrize("size", [0, 1, 1000, 4096, 10_000])
def test_blobs_round_trip_in_chunks_with_their_sha256(database_url, size):
    data = os.urandom(size)
    with session_scope(database_url) as session:
        blob = put_blob(session, [data[:333], data[333:]], chunk_bytes=1024)
        blob_id = blob.id
        assert blob.sha256 == hashlib.sha256(data).hexdigest() and blob.size == size
        assert blob.chunks == max(1, -(-size // 1024))
    with session_scope(database_url) as session:
        assert read_blob(session, blob_id) == data
        assert all(len(chunk) <= 1024 for chunk in iter_blob(session, blob_id))


def test_a_corrupted_blob_is_detected(database_url):
    with session_scope(database_url) as session:
        blob = put_blob(session, b"abcdef" * 100, chunk_bytes=64)
        chunk = session.get(BlobChunk, (blob.id, 0))
        chunk.data = b"x" * 64
        session.flush()
        with pytest.raises(ValueError, match="corrupt"):
            read_blob(session, blob.id)


def test_keys_are_stored_hashed_and_authenticate(database_url):
    with session_scope(database_url) as session:
        user = create_user(session, "lead", Role.admin)
        token = create_key(session, user, "laptop")
        stored = session.query(ApiKey).one()
        assert token not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64
        assert authenticate(session, token).name == "lead"
        assert stored.last_used_at is not None
        assert authenticate(session, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert authenticate(session, "not-a-key") is None
        stored.revoked_at = utcnow()
        assert authenticate(session, token) is None


def test_user_names_are_unique(database_url):
    with session_scope(database_url) as session:
        create_user(session, "dup")
        with pytest.raises(ValueError, match="exists already"):
            create_user(session, "dup")


def test_last_used_at_is_written_once_a_minute_and_never_waits_for_a_lock(database_url):
    """Authentication must not queue behind another transaction that holds the key's row (that locked up the API
    under 45 concurrent requests with one key): the write is skipped, not waited for."""
    from datetime import timedelta

    from sqlalchemy import select, text, update

    from store.db import engine_for

    with session_scope(database_url) as session:
        token = create_key(session, create_user(session, "lead", Role.admin))
    with session_scope(database_url) as session:
        authenticate(session, token)
        first = session.scalars(select(ApiKey.last_used_at)).one()
    with session_scope(database_url) as session:
        authenticate(session, token)
        assert session.scalars(select(ApiKey.last_used_at)).one() == first  # throttled: not written again
    with session_scope(database_url) as session:  # a minute later
        session.execute(update(ApiKey).values(last_used_at=utcnow() - timedelta(minutes=2)))
    if not database_url.startswith("postgresql"):
        return  # SQLite has no row locks: its writers wait on the database's busy timeout
    with engine_for(database_url).connect() as holder:
        holder.execute(text("SELECT id FROM api_keys FOR UPDATE"))  # another transaction holds the row
        with session_scope(database_url) as session:
            session.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would fail this test, not hang it
            assert authenticate(session, token).name == "lead"
        holder.rollback()
    with session_scope(database_url) as session:
        authenticate(session, token)
        assert session.scalars(select(ApiKey.last_used_at)).one() > first  # written once the row is free
