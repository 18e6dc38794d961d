"""Draining: when the server is asked to stop, event streams end at once instead of holding the shutdown.

uvicorn stops on SIGTERM or SIGINT only once every open response has finished, and an event stream lasts as long
as the job it follows (hours for a training). So the app chains its own handler in front of uvicorn's: the
streams see `draining` within a poll, end with a `retry` hint, and their clients reconnect (to another replica, or
to this one once restarted) with Last-Event-ID, losing no log line.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

import anyio

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGTERM, signal.SIGINT)
STEP_S = 0.1  # how quickly a sleeping stream notices a drain


class Drain:
    def __init__(self) -> None:
        self.event = threading.Event()

    @property
    def draining(self) -> bool:
        return self.event.is_set()

    def start(self) -> None:
        """Mark the server as stopping (the signal handler does this; tests call it directly)."""
        if not self.event.is_set():
            log.info("draining: open event streams are being closed")
        self.event.set()

    def hook_signals(self) -> None:
        """Put `start` in front of the handlers in place (uvicorn's, installed before the app starts). Signal
        handlers belong to the main thread: elsewhere (a test client's thread) this does nothing."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in SIGNALS:
            previous = signal.getsignal(sig)

            def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
                self.start()
                if callable(previous):
                    previous(signum, frame)
                elif previous == signal.SIG_DFL:  # what the signal would have done: end the process
                    signal.signal(signum, signal.SIG_DFL)
                    signal.raise_signal(signum)

            signal.signal(sig, handler)

    async def sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True (at once) if the server is draining."""
        remaining = seconds
        while remaining > 0 and not self.draining:
            await anyio.sleep(min(STEP_S, remaining))
            remaining -= STEP_S
        return self.draining
