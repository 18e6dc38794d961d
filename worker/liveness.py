"""This worker process in the workers table (store.workers): its kind (gpu when torch sees CUDA here, else cpu),
its device, recorded at start, touched every STH_HEARTBEAT_S by a thread, marked stopped at a clean shutdown."""

from __future__ import annotations

import logging
import os
import socket
import threading
from functools import cache

from store.db import session_scope
from store.models import DeviceKind
from store.workers import beat, record, stopped

log = logging.getLogger(__name__)


@cache
def worker_kind() -> DeviceKind:
    """gpu when torch sees a CUDA device in this process (CUDA_VISIBLE_DEVICES decides which), else cpu: the jobs
    it claims are those of its kind and of kind any (the same test as the device it trains on)."""
    from sthlib.train import resolve_device

    return DeviceKind.of(str(resolve_device()))


def device_label() -> str:
    """What the workers list shows: the GPU's name and its host index, or the CPU's core count."""
    if worker_kind() is DeviceKind.gpu:
        import torch

        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
        return f"{torch.cuda.get_device_name(0)} (GPU {visible or 0})"
    return f"cpu ({os.cpu_count() or 1} cores)"


def register(url: str, name: str) -> None:
    with session_scope(url) as session:
        record(session, name, worker_kind(), device_label(), socket.gethostname(), os.getpid())


def keep_alive(url: str, name: str, every_s: float, stop: threading.Event) -> None:
    """The liveness heartbeat, until `stop` is set; a database that does not answer is tried again next time."""
    while not stop.wait(every_s):
        try:
            with session_scope(url) as session:
                if not beat(session, name):
                    session.rollback()
                    register(url, name)
        except Exception:
            log.warning("worker heartbeat failed", exc_info=True)


def unregister(url: str, name: str) -> None:
    try:
        with session_scope(url) as session:
            stopped(session, name)
    except Exception:
        log.warning("could not record that worker %s stopped", name, exc_info=True)
