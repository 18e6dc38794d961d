"""JSON values checked against the field types of the spec dataclass they fill (TrainSpec, RegSpec, evaluator
parameters) before it is built: a value of the wrong type would otherwise slip through a comparison, or fail one
with a TypeError that names no field, or fail only in the worker. A 422 names the field (reg.alpha, epochs)."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from functools import cache
from typing import Any

from api.errors import invalid

_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}
_PLURALS = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_fields(values: dict[str, Any], cls: type, prefix: str = "") -> None:
    """422 naming `prefix` + the first field of `values` whose value `cls`'s annotation does not admit; a nested
    dataclass field must be an object (or null: its defaults) and is checked in turn. Unknown fields are left to
    the dataclass's own check, which lists the known ones."""
    hints = _hints(cls)
    for name, value in values.items():
        hint, field = hints.get(name), f"{prefix}{name}"
        if hint is None:
            continue
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            if not isinstance(value, dict | None):
                raise invalid(f"{field} must be an object of {hint.__name__} fields, got {_show(value)}", field)
            check_fields(value or {}, hint, f"{field}.")
        elif not _admits(hint, value):
            raise invalid(f"{field} must be {_describe(hint)}, got {_show(value)}", field)


def _admits(hint: Any, value: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_admits(arg, value) for arg in args)
    if origin is list:
        return isinstance(value, list) and all(_admits(args[0], v) for v in value)
    if hint is bool or isinstance(value, bool):  # JSON true is no number, and 1 is no boolean
        return hint is bool and isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float)
    if hint in _NAMES:
        return isinstance(value, hint)
    return True  # a type this check does not know: the dataclass's validate() decides


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is list:
        return f"a list of {_PLURALS.get(args[0], str(args[0]))}"
    return _NAMES.get(hint, str(hint))


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else f"{text[:37]}..."
