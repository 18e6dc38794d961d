"""The short version of bench/drills.py on both backends: the real API (two processes under uvicorn) and Celery
workers; nothing may be lost, duplicated or answered with a 5xx other than the quick 503 past saturation."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import drills


@pytest.mark.parametrize("backend", drills.BACKENDS)
def test_drills_lose_and_duplicate_nothing(backend, postgres_url):
    rows, load = drills.run(backend, quick=True)
    table = drills.markdown(["drill", "tried", "held", "lost", "dup", "recovery", "notes"], [r.cells() for r in rows])
    assert {r.drill for r in rows} == set(drills.DRILL_NAMES), table
    for row in rows:
        assert row.tried > 0 and row.held == row.tried and row.lost == row.duplicated == 0, table
    assert all(seconds < 60 for row in rows for seconds in row.recovery_s), table  # the old rule took minutes
    assert load and all(line[5] == "0" for line in load), drills.markdown(drills.LOAD_HEADER, load)
