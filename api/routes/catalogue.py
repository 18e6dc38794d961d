"""What can be asked for: evaluators, presets and datasets (torch-free parts of sthlib only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import UserDep
from sthlib.data import availability, dataset_info, dataset_names
from sthlib.evalspecs import EVAL_SPECS
from sthlib.specs import PRESETS

router = APIRouter(prefix="/v1", tags=["catalogue"])


@router.get("/evaluators")
def list_evaluators(_: UserDep) -> list[dict[str, Any]]:
    """Every evaluator with its parameters and their defaults."""
    return [spec.catalogue() for spec in EVAL_SPECS.values()]


@router.get("/presets")
def list_presets(_: UserDep) -> dict[str, dict[str, Any]]:
    """Named training specs: the paper's (task + regularization data) table and `quick`."""
    return {name: spec.to_dict() for name, spec in sorted(PRESETS.items())}


@router.get("/datasets")
def list_datasets(_: UserDep) -> list[dict[str, Any]]:
    """Built-in datasets: whether their files are on the server, where, and how to provide a missing one."""
    out = []
    for name in dataset_names():
        info, where = dataset_info(name), availability(name)
        out.append({"name": name, "classes": info.num_classes, "channels": info.channels, "size": info.size,
                    "description": info.description, "available": where.available, "location": where.location,
                    "searched": where.searched, "how_to_provide": where.how_to_provide})  # fmt: skip
    return out
