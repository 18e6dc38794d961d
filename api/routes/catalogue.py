"""Who is asking, and what can be asked for: evaluators and presets (torch-free parts of sthlib only; datasets:
routes/datasets)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import UserDep
from api.errors import responses
from sthlib.evalspecs import EVAL_SPECS
from sthlib.specs import PRESETS

router = APIRouter(prefix="/v1", tags=["catalogue"], responses=responses(401))


@router.get("/me")
def who_am_i(user: UserDep) -> dict[str, str]:
    """The caller: the user the API key belongs to and its role (member or admin)."""
    return {"name": user.name, "role": user.role.value}


@router.get("/evaluators")
def list_evaluators(_: UserDep) -> list[dict[str, Any]]:
    """Every evaluator with its parameters and their defaults."""
    return [spec.catalogue() for spec in EVAL_SPECS.values()]


@router.get("/presets")
def list_presets(_: UserDep) -> dict[str, dict[str, Any]]:
    """Named training specs: the paper's (task + regularization data) table, `quick` (the demo) and `smoke`."""
    return {name: spec.to_dict() for name, spec in sorted(PRESETS.items())}
