"""Request and response schemas (one family per resource), with examples for Swagger's "Try it out"."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from api.inputs import JsonObject, Name, Name64, Name128, Text, check_json
from api.spec_schemas import evaluator_request_schema, grid_schema, seeds_schema, train_changes_schema
from sthlib.evalspecs import EVAL_SPECS
from sthlib.jobspecs import MAX_EVALUATORS
from sthlib.specs import PRESETS
from store.models import DeviceKind, JobKind, JobStatus
from store.queue import PRIORITY_MAX, PRIORITY_MIN

# "" is no key (as null): stored, it would make every later empty key a conflict with the first job
IdempotencyKey = Annotated[Name128 | None, AfterValidator(lambda key: key or None),
                           Field(description="the same key returns the same job; empty: none")]  # fmt: skip
TrainChanges = Annotated[JsonObject, WithJsonSchema(train_changes_schema())]
Grid = Annotated[JsonObject, WithJsonSchema(grid_schema())]
Seeds = Annotated[list[Any], AfterValidator(check_json), WithJsonSchema(seeds_schema())]
CURVE_EVALUATORS = [name for name, spec in EVAL_SPECS.items() if spec.kind == "curve"]


STRICT = ConfigDict(strict=True, extra="forbid")  # true is no number, "3" no integer, a typo no silent default
Device = Annotated[DeviceKind, Field(strict=False, description="the kind of worker that may run it: any (the "
                                     "first free), gpu or cpu; a sweep's or report's jobs inherit it")]  # fmt: skip
WaitingFor = Annotated[str | None, Field(description="a queued job (or an unfinished sweep's or report's jobs, or "
                                         "a running job whose worker went silent) that no live worker can take: "
                                         "why (no live gpu worker, when one was last seen); else null")]  # fmt: skip


class TrainJobCreate(BaseModel):
    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [
        {"preset": "quick", "spec": {"epochs": 1}, "idempotency_key": "quick-demo-1"},
        {"preset": "fashion-mnist+fashion-mnist", "spec": {"seed": 1, "reg": {"alpha": 10.0, "threshold": 0.4}}},
    ]})  # fmt: skip
    preset: Name | None = Field(None, description="start from a preset (GET /v1/presets); null: the defaults",
                                json_schema_extra={"enum": [*sorted(PRESETS), None]})  # fmt: skip
    spec: TrainChanges = Field(default_factory=dict)
    device: Device = DeviceKind.any
    idempotency_key: IdempotencyKey = None


class EvaluatorRequest(BaseModel):
    model_config = STRICT
    name: Name = Field(description="an evaluator of GET /v1/evaluators")
    params: JsonObject = Field(default_factory=dict, description="the evaluator's parameters; omitted: defaults")
    source_model_id: Name | None = Field(None, description="transfer_fgsm: the unregularized source model (the "
                                         'same as params.source {"kind": "model", "ref": ID})')  # fmt: skip


Evaluators = list[Annotated[EvaluatorRequest, WithJsonSchema(evaluator_request_schema())]]


class EvalJobCreate(BaseModel):
    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [
        {"model_id": "MODEL_ID", "evaluators": [{"name": "gaussian", "params": {"n_images": 500}},
                                                 {"name": "boundary", "params": {"steps": 10, "n_images": 100}}]},
    ]})  # fmt: skip
    model_id: Name
    evaluators: Evaluators = Field(min_length=1, max_length=MAX_EVALUATORS)
    device: Device = DeviceKind.any
    idempotency_key: IdempotencyKey = None


class SweepCreate(BaseModel):
    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [
        {"preset": "quick", "spec": {"epochs": 1, "reg": {"n_images": 500}},
         "grid": {"reg.alpha": [0.1, 1.0], "reg.threshold": [0.2, 0.8]}, "seeds": [0],
         "evaluators": [{"name": "gaussian", "params": {"n_images": 500}}], "select_by": "gaussian"},
    ]})  # fmt: skip
    preset: Name | None = Field(None, description="start from a preset (GET /v1/presets); null: the defaults",
                                json_schema_extra={"enum": [*sorted(PRESETS), None]})  # fmt: skip
    spec: TrainChanges = Field(default_factory=dict)
    grid: Grid = Field(
        description="field -> 1 to 16 distinct values, e.g. reg.alpha, reg.threshold; every combination is trained "
        "(reg.alpha 0, the baseline, is added)",
    )
    seeds: Seeds = Field(default_factory=lambda: [0])
    evaluators: Evaluators = Field(
        min_length=1, max_length=MAX_EVALUATORS,
        description="run on every trained model; transfer_fgsm without a source attacks with an unregularized "
        "source model the sweep trains (seed max(seeds) + 1)",
    )  # fmt: skip
    select_by: Name | None = Field(None, description="the curve evaluator that ranks settings (default: the first)",
                                   json_schema_extra={"enum": [*CURVE_EVALUATORS, None]})  # fmt: skip
    min_r0_u0: float = Field(0.9, gt=0, le=1, description="keep settings whose clean accuracy R0 >= this * U0")
    device: Device = DeviceKind.any
    idempotency_key: IdempotencyKey = None


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
    device: str | None = Field(description="where it ran (cuda, cpu)")
    device_kind: DeviceKind = Field(DeviceKind.any, description="what it asked for (the submission's `device`)")
    waiting_for: WaitingFor = None
    error: JobError | None
    priority: int = Field(0, description="set by an admin (PATCH /v1/jobs/{id}); higher runs first (GET /v1/queue)")
    model_id: str | None = None
    label: str | None = Field(None, description="what it is in a few words: a training's setting and seed, an "
                              "evaluation's model and evaluators, a sweep's grid, a report's protocol; null: "
                              "unreadable spec")  # fmt: skip
    parent_id: str | None = Field(None, description="the sweep or report this job belongs to")
    setting: str | None = Field(None, description="the setting of the model it trains or evaluates")
    result: dict[str, Any] | None = Field(
        None,
        description="sweeps: every setting's R0, R0/U0, AUC; the selected; reports: the report (GET /v1/reports/{id})",
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobPage(BaseModel):
    items: list[JobPublic]
    next_page_token: str | None


class JobUpdate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra={"examples": [{"priority": 10}]})
    priority: int = Field(ge=PRIORITY_MIN, le=PRIORITY_MAX, description="higher runs first; 0 by default")


class QueuePlace(BaseModel):
    position: int = Field(description="1: the job the next free worker starts")
    id: str
    kind: JobKind
    owner: str
    label: str | None
    parent_id: str | None
    priority: int
    owner_device_s: float = Field(description="its owner's device time over the last 24 h, running jobs included")
    created_at: datetime
    why: str = Field(description="why it stands here rather than before the job ahead of it")
    device_kind: DeviceKind = Field(DeviceKind.any, description="the kind of worker that may run it")
    waiting_for: WaitingFor = None


class QueuePage(BaseModel):
    items: list[QueuePlace]
    total: int = Field(description="queued jobs in all (items holds the first `limit`)")


class WorkerPublic(BaseModel):
    name: str = Field(description="Celery's hostname, e.g. gpu0@host")
    kind: DeviceKind = Field(description="gpu or cpu: it runs jobs asking for its kind or for any device")
    device: str = Field(description="the GPU's name and index, or the CPU's cores")
    host: str
    pid: int
    started_at: datetime
    last_seen: datetime
    alive: bool = Field(description="seen within STH_HEARTBEAT_TIMEOUT_S and not stopped")
    stopped_at: datetime | None = Field(description="when it shut down cleanly")
    running_job: str | None = Field(description="the id of the job it runs now")


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
    metrics: dict[str, Any] = Field(description="the kept epoch's metrics (test_acc: clean test accuracy)")
    spec: dict[str, Any] | None
    setting: str | None = Field(None, description="the training spec without its seed, hashed: the models of one "
                                "setting are seeds of one experiment (GET /v1/models?setting=)")  # fmt: skip
    setting_label: str | None = Field(None, description="the setting in a few words: arch, task, alpha, Th, epochs")
    seed: int | None = None
    sweep_id: str | None = Field(None, description="the sweep that trained it")
    tags: list[str] = Field(default_factory=list)
    notes: str = ""
    sha256: str
    size: int
    created_at: datetime


class ResultSummary(BaseModel):
    """One stored result in a line: its headline number (normalised AUC for a curve, the score for a minimal
    perturbation report)."""

    id: str
    evaluator: str
    label: str
    kind: str
    job_id: str | None
    created_at: datetime
    headline: dict[str, Any] = Field(
        description="curve: clean_accuracy, normalized_auc; perturbation: score (mean over repeats of the median "
        "||d||^2/D), score_std, repeats, success_rate"
    )


class ModelDetail(ModelPublic):
    history: list[dict[str, Any]] = Field(
        default_factory=list,
        description="every epoch's metrics: losses, accuracies, L_reg, similarity correlation, layer weights, lr, "
        "seconds",
    )
    best_epoch: int | None = Field(None, description="the epoch whose weights were kept (lowest validation loss)")
    versions: dict[str, Any] | None = Field(None, description="the libraries that trained it")
    results: list[ResultSummary] = Field(default_factory=list)


class ModelUpdate(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    name: Name128 | None = None
    tags: list[Name64] | None = Field(None, max_length=32, description="replaces the tags")
    notes: Text | None = Field(None, max_length=20_000)


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


class DatasetPublic(BaseModel):
    name: str = Field(description="what a job spec names: a built-in name or upload:NAME")
    origin: Literal["builtin", "uploaded"]
    classes: int
    channels: int
    size: int = Field(description="images are size x size pixels")
    description: str
    available: bool = Field(description="its files are on this server (uploads: always)")
    location: str | None = None
    searched: list[str] = Field(default_factory=list)
    how_to_provide: str | None = None
    owner: str | None = None
    splits: dict[str, int] | None = Field(default=None, description="uploads: images per split")
    bytes: int | None = None
    sha256: str | None = None
    created_at: datetime | None = None


class SimilarityPublic(BaseModel):
    dataset: str
    color: str
    n: int = Field(description="images: the first N of the train split")
    pairs: int = Field(description="pairs i < j")
    exact: bool = Field(description="false: estimated from `sampled` uniformly drawn pairs")
    sampled: int
    threshold: float
    threshold_low: float | None
    bin_edges: list[float] = Field(description="histogram of S over [-1, 1]")
    counts: list[int]
    selected_fraction: dict[str, float] = Field(description="variant -> fraction of the pairs it trains on")
    target_fraction: dict[str, float] = Field(description='"+1", "0", "-1" -> fraction of pairs with that target')
