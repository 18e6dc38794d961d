"""Files in the database: chunks of settings.blob_chunk_bytes, with the sha256 of the whole."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store.models import Blob, BlobChunk
from store.settings import get_settings


def put_blob(session: Session, data: bytes | Iterable[bytes], chunk_bytes: int | None = None) -> Blob:
    """Store bytes (or a stream of byte pieces) as a new blob; returns it with its sha256 and size."""
    size_limit = chunk_bytes or get_settings().blob_chunk_bytes
    blob = Blob(sha256="", size=0, chunks=0)
    session.add(blob)
    session.flush()
    digest, buffer, index, size = hashlib.sha256(), b"", 0, 0
    pieces = [data] if isinstance(data, bytes) else data
    for piece in pieces:
        digest.update(piece)
        size += len(piece)
        buffer += piece
        while len(buffer) >= size_limit:
            session.add(BlobChunk(blob_id=blob.id, index=index, data=buffer[:size_limit]))
            buffer, index = buffer[size_limit:], index + 1
    if buffer or index == 0:
        session.add(BlobChunk(blob_id=blob.id, index=index, data=buffer))
        index += 1
    blob.sha256, blob.size, blob.chunks = digest.hexdigest(), size, index
    session.flush()
    return blob


def iter_blob(session: Session, blob_id: str) -> Iterator[bytes]:
    """The blob's chunks in order, one query per chunk (a large checkpoint never sits in memory whole)."""
    blob = session.get(Blob, blob_id)
    if blob is None:
        raise KeyError(f"no blob {blob_id}")
    for index in range(blob.chunks):
        chunk = session.scalars(
            select(BlobChunk.data).where(BlobChunk.blob_id == blob_id, BlobChunk.index == index)
        ).one()
        yield chunk


def stream_blob(sessions: sessionmaker[Session], blob_id: str, chunks: int) -> Iterator[bytes]:
    """The blob's `chunks` chunks in order, each read in a short transaction of its own: a slow reader (a download
    over a slow link) never holds a connection or a transaction between chunks."""
    for index in range(chunks):
        with sessions() as session:
            data = session.scalars(
                select(BlobChunk.data).where(BlobChunk.blob_id == blob_id, BlobChunk.index == index)
            ).one()
        yield data


def read_blob(session: Session, blob_id: str, verify: bool = True) -> bytes:
    data = b"".join(iter_blob(session, blob_id))
    blob = session.get(Blob, blob_id)
    assert blob is not None
    if verify and hashlib.sha256(data).hexdigest() != blob.sha256:
        raise ValueError(f"blob {blob_id} is corrupt: sha256 does not match")
    return data
