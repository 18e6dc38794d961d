"""Uploaded datasets: the database holds the file (a blob); each machine keeps a verified copy on disk to read."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.blobs import iter_blob
from store.models import Blob, Dataset


def find_dataset(session: Session, name: str) -> Dataset | None:
    """The uploaded dataset called `name` (the NAME of upload:NAME)."""
    return session.scalars(select(Dataset).where(Dataset.name == name)).first()


def file_matches(path: Path, blob: Blob) -> bool:
    if not path.is_file() or path.stat().st_size != blob.size:
        return False
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest() == blob.sha256


def materialize(session: Session, name: str, folder: Path) -> Path:
    """folder/NAME.npz with the uploaded dataset's bytes, written from the database unless already there.

    Checked against the blob's size and sha256; written to a temporary name and renamed, so a reader never sees
    half a file, and two processes or threads writing the same dataset do not collide. KeyError if no dataset has
    that name.
    """
    dataset = find_dataset(session, name)
    if dataset is None:
        raise KeyError(f"no uploaded dataset named {name!r}")
    blob = session.get(Blob, dataset.blob_id)
    assert blob is not None
    path = folder / f"{name}.npz"
    if file_matches(path, blob):
        return path
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}.{uuid.uuid4().hex}.partial"  # unique per call: threads of one process too
    digest = hashlib.sha256()
    with partial.open("wb") as f:
        for chunk in iter_blob(session, blob.id):
            digest.update(chunk)
            f.write(chunk)
    if digest.hexdigest() != blob.sha256:
        partial.unlink()
        raise ValueError(f"the stored file of dataset {name!r} is corrupt: sha256 does not match")
    partial.replace(path)
    return path
