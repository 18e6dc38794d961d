"""A bounded LRU cache for expensive values, computed once however many threads ask for them at the same time."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class SingleFlightCache(Generic[V]):
    """The last `maxsize` values by key. Concurrent callers of a missing key wait on that key's lock while one of
    them computes it (single flight); other keys are not held up. A computation that raises caches nothing: the
    next caller tries again."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._flights: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()  # guards the two dicts, never held while computing

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:
            with self._lock:
                if key in self._values:  # computed by the caller we waited for
                    self._values.move_to_end(key)
                    return self._values[key]
            try:
                value = compute()
            except BaseException:
                with self._lock:
                    self._flights.pop(key, None)
                raise
            with self._lock:  # value in and flight out together: a newcomer finds one or the other
                self._values[key] = value
                self._flights.pop(key, None)
                while len(self._values) > self.maxsize:
                    self._values.popitem(last=False)
            return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
