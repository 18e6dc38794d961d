"""Answers reused for up to a moment: GET /v1/jobs pages and API key checks, per API process.

Why: on a 2-core server one page of 50 jobs costs ~15 ms of CPU and a key check ~4 ms, so a few dozen open
dashboards (each polls the job list every 2 s) or one busy script filled the API. Within `ttl_s` (STH_API_CACHE_S,
default 1 s) a repeated request is answered from memory; concurrent misses of one key compute it once. A change
made through the same process (a submission, a cancellation, a revoked key) starts a new generation and is seen at
once; one made elsewhere (a worker, another API process) shows within `ttl_s`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from api.cache import SingleFlightCache

V = TypeVar("V")


class Recent(Generic[V]):
    def __init__(self, ttl_s: float, maxsize: int = 256) -> None:
        self.ttl_s, self.generation = ttl_s, 0
        self._cache: SingleFlightCache[V] = SingleFlightCache(maxsize)

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        if self.ttl_s <= 0:
            return compute()
        window = int(time.monotonic() / self.ttl_s)  # an entry lives until its window ends: at most ttl_s
        return self._cache.get((key, self.generation, window), compute)

    def invalidate(self) -> None:
        """Everything cached so far is stale (this process just changed what it was computed from)."""
        self.generation += 1
        self._cache.clear()
