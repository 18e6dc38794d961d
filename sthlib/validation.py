"""Validating job specs in one place: pydantic checks types, ranges and enums against the spec dataclasses' own
annotations, then each spec's `validate()` checks meaning (thresholds, datasets; a regularizer's pair counts are
sthlib.preflight's). Every failure is a
SpecError naming its field path ("reg.threshold", "evaluators.1.params.corruptions.0"), the problem, and a hint.

JSON is strict here: an integer field takes an integer, or a whole float (2.0 -> 2: no meaning is lost), never
2.5, true, "3" or null; a number field takes an integer or a finite float, never true or a string; unknown
fields are errors that list the known ones. Torch-free: the API validates requests with it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable
from functools import cache
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, ConfigDict, Strict, TypeAdapter, ValidationError

T = TypeVar("T")

# Every spec dataclass carries this as __pydantic_config__: unknown keys and NaN/inf are refused.
SPEC_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)


def _whole(value: Any) -> Any:
    """2.0 -> 2 for integer fields (JSON has one number type); anything else is left for the strict check."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


Int = Annotated[int, BeforeValidator(_whole), Strict()]
Float = Annotated[float, Strict()]  # strict float still takes an int (JSON 1 is the number 1.0)
Str = Annotated[str, Strict()]
Bool = Annotated[bool, Strict()]
SEED_MAX = 2**31 - 1  # seeds are stored and offset (seed + 1, seed + epoch) as 32-bit integers


class SpecError(ValueError):
    """A spec field that cannot be accepted: `field` is its dotted path, `message` what is wrong, `hint` what to do.

    str() is one sentence that starts with the field, so a worker's error message and a CLI error name it too.
    """

    def __init__(self, field: str, message: str, hint: str = "", others: tuple[SpecError, ...] = ()) -> None:
        self.field, self.message, self.hint, self.others = field, message, hint, others
        super().__init__(self.text)

    @property
    def text(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{where}{self.message}" + (f"; {self.hint}" if self.hint else "")

    def at(self, prefix: str) -> SpecError:
        """The same error inside a larger spec: prefix "spec" turns "reg.alpha" into "spec.reg.alpha"."""
        if not prefix:
            return self
        return SpecError(_join(prefix, self.field), self.message, self.hint, tuple(o.at(prefix) for o in self.others))

    def to_dict(self) -> dict[str, Any]:
        """The API's error details: the field, the hint, and the other fields that failed in the same request."""
        details: dict[str, Any] = {"field": self.field}
        if self.hint:
            details["hint"] = self.hint
        if self.others:
            details["also"] = [{"field": o.field, "message": o.message} for o in self.others]
        return details


def _join(prefix: str, field: str) -> str:
    return f"{prefix}.{field}" if prefix and field else prefix or field


def require(ok: bool, field: str, message: str, hint: str = "") -> None:
    """A spec's check of meaning: raise SpecError(field, message, hint) unless `ok`."""
    if not ok:
        raise SpecError(field, message, hint)


@cache
def _adapter(cls: Any) -> TypeAdapter[Any]:
    return TypeAdapter(cls)


def parse(cls: type[T], data: Any, prefix: str = "") -> T:
    """`data` (JSON-like) as a `cls` instance, with every field's type, range and enum checked; SpecError naming
    the first bad field (the others in .others). Meaning (cross-field rules, datasets) is each spec's validate()."""
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = dataclasses.asdict(data)
    if not isinstance(data, dict):
        raise SpecError(prefix, f"must be an object of {cls.__name__} fields, got {show(data)}")
    try:
        return typing.cast(T, _adapter(typing.cast(Any, cls)).validate_python(data))
    except ValidationError as e:
        errors = [_spec_error(cls, err).at(prefix) for err in e.errors()]
        raise SpecError(errors[0].field, errors[0].message, errors[0].hint, tuple(errors[1:])) from None


def show(value: Any) -> str:
    """A value as JSON, shortened: what the user sent, in the user's notation."""
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


_WANTED = {
    "int_type": "an integer", "int_from_float": "an integer", "int_parsing": "an integer",
    "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
    "string_type": "a string", "bool_type": "true or false", "list_type": "a list", "tuple_type": "a list",
    "dict_type": "an object", "dataclass_type": "an object", "dataclass_exact_type": "an object",
    "model_type": "an object",
}  # fmt: skip
_BOUNDS = {"greater_than_equal": (">=", "ge"), "less_than_equal": ("<=", "le"), "greater_than": (">", "gt"),
           "less_than": ("<", "lt")}  # fmt: skip


def _spec_error(cls: type, err: Any) -> SpecError:
    loc = [part for part in err["loc"] if isinstance(part, int) or _is_name(part)]
    field = ".".join(str(part) for part in loc)
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind in _WANTED:
        return SpecError(field, f"must be {_WANTED[kind]}, got {show(value)}")
    if kind in _BOUNDS:
        sign, key = _BOUNDS[kind]
        return SpecError(field, f"must be {sign} {ctx[key]}, got {show(value)}")
    if kind == "literal_error":
        return SpecError(field, f"unknown value {show(value)}", f"choose one of {ctx['expected']}")
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        known = _known_fields(cls, loc[:-1])
        return SpecError(field, "unknown field", f"known: {', '.join(known)}" if known else "")
    if kind in ("missing", "missing_argument"):
        return SpecError(field, "is required")
    if kind == "too_long":
        return SpecError(field, f"must have at most {ctx['max_length']} items, got {ctx.get('actual_length')}")
    if kind == "too_short":
        return SpecError(field, f"must have at least {ctx['min_length']} item(s)")
    return SpecError(field, f"{err['msg']}, got {show(value)}")


def _is_name(part: Any) -> bool:
    """A field name in an error location, not one of pydantic's schema tags (function-before[...], int, ...)."""
    return isinstance(part, str) and part.isidentifier() and part not in ("int", "float", "str", "bool", "list")


def _unwrap(hint: Any) -> Any:
    """The dataclass or list a field's annotation holds, through Annotated and Optional."""
    while True:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is Annotated:
            hint = args[0]
        elif origin in (typing.Union, types.UnionType):
            inner = [a for a in args if a is not type(None)]
            if len(inner) != 1:
                return hint
            hint = inner[0]
        else:
            return hint


def _known_fields(cls: Any, loc: Iterable[Any]) -> list[str]:
    """The field names of the dataclass at `loc` inside `cls` (empty when the walk leaves dataclasses)."""
    hint: Any = cls
    for part in loc:
        hint = _unwrap(hint)
        if isinstance(part, int):
            args = typing.get_args(hint)
            hint = args[0] if args else None
        elif dataclasses.is_dataclass(hint):
            hint = typing.get_type_hints(hint, include_extras=True).get(part)
        else:
            return []
    hint = _unwrap(hint)
    return [f.name for f in dataclasses.fields(hint)] if dataclasses.is_dataclass(hint) else []


_BOUND_KEYS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def json_schema(cls: Any) -> dict[str, Any]:
    """The JSON schema of a spec dataclass, as OpenAPI shows it: enums, minimum/maximum, descriptions."""
    return _standard(_adapter(cls).json_schema())


def _standard(node: Any) -> Any:
    """pydantic names bounds it cannot attach to a wrapped type (our Int) ge/le; JSON Schema says minimum/maximum."""
    if isinstance(node, dict):
        return {_BOUND_KEYS.get(k, k) if k in _BOUND_KEYS and not isinstance(v, dict) else k: _standard(v)
                for k, v in node.items()}  # fmt: skip
    if isinstance(node, list):
        return [_standard(v) for v in node]
    return node


def json_safe(value: Any) -> Any:
    """A value a JSON column stores on every backend: NaN (which PostgreSQL's json refuses) becomes null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value
