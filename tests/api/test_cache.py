import threading
import time

import pytest

from api.cache import SingleFlightCache


def test_concurrent_callers_of_one_key_wait_for_one_computation():
    cache: SingleFlightCache[int] = SingleFlightCache(maxsize=4)
    calls, release, results = [], threading.Event(), []

    def compute():
        calls.append(1)
        release.wait(10)
        return 42

    threads = [threading.Thread(target=lambda: results.append(cache.get("k", compute))) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # let them all arrive while the first computes
    release.set()
    for thread in threads:
        thread.join(10)
    assert results == [42] * 8 and len(calls) == 1


def test_other_keys_are_not_held_up_by_a_computation():
    cache: SingleFlightCache[str] = SingleFlightCache(maxsize=4)
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        release.wait(10)
        return "slow"

    thread = threading.Thread(target=lambda: cache.get("slow", slow))
    thread.start()
    started.wait(10)
    assert cache.get("fast", lambda: "fast") == "fast"  # answered while "slow" is still computing
    release.set()
    thread.join(10)


def test_least_recently_used_values_are_evicted_and_errors_not_cached():
    cache: SingleFlightCache[int] = SingleFlightCache(maxsize=2)
    calls = []

    def value(n):
        def compute():
            calls.append(n)
            return n

        return compute

    cache.get(1, value(1))
    cache.get(2, value(2))
    cache.get(1, value(1))  # 1 is now the most recent
    cache.get(3, value(3))  # evicts 2
    cache.get(1, value(1))
    cache.get(2, value(2))
    assert calls == [1, 2, 3, 2]

    def fails():
        calls.append("x")
        raise ValueError("no")

    for _ in range(2):
        with pytest.raises(ValueError):
            cache.get("x", fails)
    assert calls.count("x") == 2
    assert cache.get("x", lambda: 7) == 7
