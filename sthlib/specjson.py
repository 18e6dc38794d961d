"""The JSON shapes that job specs are read from: an object with known keys, a bounded list, a non-empty string, a
list of distinct seeds, a fraction, and the hash of a spec's canonical JSON. Each raises SpecError naming the field.
Shared by every spec module (sthlib.jobspecs, sthlib.reproduce.protocols). Torch-free."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sthlib.validation import SEED_MAX, SpecError, require, show

MAX_SEEDS = 10


def spec_hash(data: dict[str, Any]) -> str:
    """The sha256 of a spec's canonical JSON (idempotency keys compare it)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def json_object(data: Any, field: str, known: tuple[str, ...]) -> dict[str, Any]:
    """`data` as a JSON object with only `known` keys (SpecError naming the first unknown one)."""
    if not isinstance(data, dict):
        raise SpecError(field, f"must be an object, got {show(data)}")
    for key in data:
        require(key in known, f"{field}.{key}".lstrip("."), "unknown field", f"known: {', '.join(known)}")
    return data


def json_list(data: Any, field: str, most: int) -> list[Any]:
    """`data` as a list of 1 to `most` items."""
    if not isinstance(data, list):
        raise SpecError(field, f"must be a list, got {show(data)}")
    require(1 <= len(data) <= most, field, f"must have 1 to {most} items, got {len(data)}")
    return data


def json_string(data: Any, field: str) -> str:
    """`data` as a non-empty string."""
    if not isinstance(data, str) or not data:
        raise SpecError(field, f"must be a non-empty string, got {show(data)}")
    return data


def seed_list(data: Any, field: str = "seeds") -> tuple[int, ...]:
    """1 to MAX_SEEDS distinct seeds, each in [0, SEED_MAX)."""
    seeds = json_list(data, field, MAX_SEEDS)
    for i, seed in enumerate(seeds):
        ok = isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < SEED_MAX
        require(ok, f"{field}.{i}", f"must be an integer in [0, {SEED_MAX - 1}], got {show(seed)}")
    require(len(set(seeds)) == len(seeds), field, f"seeds repeat: {show(seeds)}")
    return tuple(seeds)


def fraction(value: Any, field: str) -> float:
    """A number in (0, 1]."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1
    require(ok, field, f"must be a number in (0, 1], got {show(value)}")
    return float(value)
