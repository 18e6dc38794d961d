"""OpenAPI schemas of the request bodies' spec parts, derived from the typed specs (sthlib.specs, sthlib.evalspecs,
sthlib.jobspecs), so that Swagger lists the allowed values: enums, minimum/maximum, descriptions with units.

The bodies themselves are validated by the specs (sthlib.validation), not by these schemas: a spec change set is
partial (every field optional, merged into a preset) and its errors must name the request's field path."""

from __future__ import annotations

import copy
from typing import Any

from sthlib.evalspecs import EVAL_SPECS
from sthlib.jobspecs import GRID_KEYS, MAX_GRID_VALUES
from sthlib.specjson import MAX_SEEDS
from sthlib.specs import TrainSpec
from sthlib.validation import SEED_MAX, json_schema


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its $defs references replaced by the definitions (OpenAPI has no local $defs)."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node and node["$ref"].startswith("#/$defs/"):
                return walk(copy.deepcopy(defs[node["$ref"].removeprefix("#/$defs/")]))
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def _optional(node: Any) -> Any:
    """Every field optional (a change set, or parameters whose omitted fields take their defaults)."""
    if isinstance(node, dict):
        return {k: _optional(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_optional(v) for v in node]
    return node


def train_changes_schema() -> dict[str, Any]:
    schema = _optional(_inline(json_schema(TrainSpec)))
    schema["description"] = (
        'TrainSpec fields to change (reg nested: {"reg": {"alpha": 4}}); the others come from the preset. '
        "Integers take whole numbers only; unknown fields are refused"
    )
    schema.pop("title", None)
    return schema


def _field_schema(schema: dict[str, Any], key: str) -> dict[str, Any]:
    """The schema of a dotted TrainSpec field ("lr", "reg.alpha") inside the inlined TrainSpec schema."""
    head, _, tail = key.partition(".")
    node = schema["properties"][head]
    return node["properties"][tail] if tail else node


def grid_schema() -> dict[str, Any]:
    properties = {}
    train = _inline(json_schema(TrainSpec))
    for key in GRID_KEYS:
        item = {k: v for k, v in _field_schema(train, key).items() if k not in ("default", "title")}
        properties[key] = {"type": "array", "items": item, "minItems": 1, "maxItems": MAX_GRID_VALUES,
                           "uniqueItems": True, "description": item.pop("description", "")}  # fmt: skip
    return {"type": "object", "properties": properties, "additionalProperties": False, "minProperties": 1,
            "description": "TrainSpec field (reg.FIELD for the regularizer) -> values; every combination is trained "
            "for every seed"}  # fmt: skip


def seeds_schema() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": SEED_MAX - 1}, "minItems": 1,
            "maxItems": MAX_SEEDS, "uniqueItems": True, "description": "one training per setting and seed"}  # fmt: skip


def evaluator_request_schema() -> dict[str, Any]:
    """One evaluator: its name and its own parameters (oneOf, by name)."""
    options = []
    for name, spec in EVAL_SPECS.items():
        params = _optional(_inline(spec.parameters_schema()))
        params.pop("title", None)
        properties: dict[str, Any] = {"name": {"type": "string", "enum": [name]}, "params": params}
        if spec.sourced:
            same = 'the same as params.source {"kind": "model", "ref": ID}'
            properties["source_model_id"] = {"type": ["string", "null"], "description": f"the source model ({same})"}
        options.append({"title": name, "description": spec.description, "type": "object", "properties": properties,
                        "required": ["name"], "additionalProperties": False})  # fmt: skip
    return {"oneOf": options, "description": "an evaluator of GET /v1/evaluators with its parameters"}
