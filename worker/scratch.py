"""Scratch folders of running jobs, under one folder per worker process, so that what a killed worker left behind
is found and removed (at the next worker start on this machine, and by every reconciler pass)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def root() -> Path:
    return Path(tempfile.gettempdir()) / "sth-work"


@contextlib.contextmanager
def scratch(job_id: str) -> Iterator[Path]:
    """A fresh folder for one attempt of a job, removed when it ends; one a SIGKILL leaves is reclaimed later."""
    mine = root() / str(os.getpid())
    mine.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"sth-{job_id}-", dir=mine) as folder:
        yield Path(folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_orphans() -> int:
    """Remove the folders of worker processes that are gone; returns how many."""
    removed = 0
    if not root().is_dir():
        return 0
    for folder in root().iterdir():
        if folder.name.isdigit() and int(folder.name) != os.getpid() and not _alive(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    if removed:
        log.info("removed the scratch folders of %d dead worker process(es)", removed)
    return removed
