"""Request and response schemas (one family per resource), with examples for Swagger's "Try it out"."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from store.models import JobKind, JobStatus


class TrainJobCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"preset": "quick", "spec": {"epochs": 1}, "idempotency_key": "quick-demo-1"},
        {"preset": "fashion-mnist+mnist", "spec": {"seed": 1, "reg": {"alpha": 10.0, "threshold": 0.4}}},
    ]})  # fmt: skip
    preset: str | None = Field(None, description="start from a preset (GET /v1/presets); null: the defaults")
    spec: dict[str, Any] = Field(default_factory=dict, description="TrainSpec fields to change (reg nested)")
    idempotency_key: str | None = Field(None, max_length=128, description="the same key returns the same job")


class EvaluatorRequest(BaseModel):
    name: str = Field(description="an evaluator of GET /v1/evaluators")
    params: dict[str, Any] = Field(default_factory=dict)
    source_model_id: str | None = Field(None, description="transfer_fgsm: the unregularized source model")


class EvalJobCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"model_id": "MODEL_ID", "evaluators": [{"name": "gaussian", "params": {"n_images": 500}},
                                                 {"name": "boundary", "params": {"steps": 10, "n_images": 100}}]},
    ]})  # fmt: skip
    model_id: str
    evaluators: list[EvaluatorRequest] = Field(min_length=1)
    idempotency_key: str | None = Field(None, max_length=128)


class JobError(BaseModel):
    code: str | None
    message: str | None


class JobPublic(BaseModel):
    id: str
    kind: JobKind
    status: JobStatus
    owner: str
    spec: dict[str, Any]
    progress: dict[str, Any]
    cancel_requested: bool
    attempts: int
    worker: str | None
    device: str | None
    error: JobError | None
    model_id: str | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobPage(BaseModel):
    items: list[JobPublic]
    next_page_token: str | None


class LogLine(BaseModel):
    id: int
    created_at: datetime
    level: str
    message: str


class ModelPublic(BaseModel):
    id: str
    name: str
    owner: str
    origin: str
    job_id: str | None
    arch: str
    dataset: str
    color: str
    in_channels: int
    num_classes: int
    input_scale: str
    metrics: dict[str, Any]
    spec: dict[str, Any] | None
    sha256: str
    size: int
    created_at: datetime


class ResultPublic(BaseModel):
    id: str
    model_id: str
    job_id: str | None
    evaluator: str
    label: str
    kind: str
    group: str
    data: dict[str, Any]
    created_at: datetime
