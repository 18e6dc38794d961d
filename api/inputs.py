"""Strings and JSON values as a client sends them, refused at the edge (422 naming the field) when they could only
fail later: PostgreSQL takes no NUL in text and no NaN or Infinity in JSON, a lone surrogate cannot be encoded as
UTF-8 for either database, control characters in a name break headers and logs, and JSON nested deeper than a spec
ever is would exhaust the recursion of every later json.dumps.

`Name` is for identifiers, names and filters (no control character at all), `Text` for free text (tabs and line
breaks allowed), `JsonObject` for the free-form dicts (spec, params, grid): every key and string in them is a name,
every number finite."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # C0, DEL, C1 controls and lone surrogates
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # free text keeps \t \n \r
MAX_JSON_DEPTH = 16  # a spec is two levels deep; a sweep grid's values three
INT32_MAX = 2**31 - 1  # the largest value of an Integer column (PostgreSQL's int4)

Path = tuple[str | int, ...]


class InputError(ValueError):
    """A value refused inside a field: `path` says where below the field (api.errors appends it to the field)."""

    def __init__(self, message: str, path: Path = ()) -> None:
        super().__init__(message)
        self.path = path


def _refuse(pattern: re.Pattern[str], value: str, path: Path = ()) -> None:
    bad = pattern.search(value)
    if bad is not None:
        what = "a lone surrogate" if "\ud800" <= bad.group() <= "\udfff" else "a control character"
        raise InputError(f"contains {what} ({bad.group()!r} at position {bad.start()}); remove it", path)


def check_name(value: str) -> str:
    _refuse(_CONTROL, value)
    return value


def check_text(value: str) -> str:
    _refuse(_TEXT_CONTROL, value)
    return value


def check_json(value: Any) -> Any:
    """`value` unchanged, or InputError naming the first key, string or number that a database would refuse.
    Iterative, so that depth is refused by the limit and never by Python's recursion."""
    pending: list[tuple[Path, Any]] = [((), value)]
    while pending:
        path, item = pending.pop()
        if len(path) > MAX_JSON_DEPTH:
            raise InputError(f"is nested deeper than {MAX_JSON_DEPTH} levels", path[:MAX_JSON_DEPTH])
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise InputError("keys must be strings", path)
                _refuse(_CONTROL, key, path)
                pending.append(((*path, key), child))
        elif isinstance(item, list):
            pending.extend(((*path, i), child) for i, child in enumerate(item))
        elif isinstance(item, str):
            _refuse(_CONTROL, item, path)
        elif isinstance(item, float) and not math.isfinite(item):
            raise InputError(f"must be a finite number, got {item}", path)
    return value


Name = Annotated[str, AfterValidator(check_name)]
Text = Annotated[str, AfterValidator(check_text)]
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json)]
# Names stored in a VARCHAR column, no longer than it (PostgreSQL refuses a longer value, SQLite would store it)
Name64 = Annotated[str, StringConstraints(max_length=64), AfterValidator(check_name)]
Name128 = Annotated[str, StringConstraints(max_length=128), AfterValidator(check_name)]
