"""bench/serving.py's Redis leases: test sessions and benchmarks running at once never get the same database."""

import subprocess
import sys
import textwrap
from contextlib import ExitStack
from functools import partial

import pytest
import serving


def test_leases_held_at_once_are_distinct_and_a_16th_is_refused(tmp_path):
    lease = partial(serving.redis_db_lease, folder=tmp_path)  # lock files of their own: others' leases do not count
    with ExitStack() as stack:
        numbers = [stack.enter_context(lease()) for _ in range(15)]
        assert sorted(numbers) == list(range(1, 16))
        with pytest.raises(RuntimeError, match="all 15 Redis databases"), lease():
            pass
    with lease() as number:  # all released when their blocks ended
        assert 1 <= number <= 15


@pytest.mark.e2e
def test_a_lease_held_by_another_process_is_not_given_out_and_is_freed_when_it_dies(tmp_path):
    lease = partial(serving.redis_db_lease, folder=tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            sys.path.insert(0, {str(serving.ROOT / "bench")!r})
            import serving
            with serving.redis_db_lease(folder=Path({str(tmp_path)!r})) as number:
                print(number, flush=True)
                time.sleep(600)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        held = int(holder.stdout.readline())
        with ExitStack() as stack:
            mine = {stack.enter_context(lease()) for _ in range(14)}
            assert held not in mine and len(mine) == 14
    finally:
        holder.kill()
        holder.wait()
    with ExitStack() as stack:  # the OS released the dead holder's lock
        assert len({stack.enter_context(lease()) for _ in range(15)}) == 15
