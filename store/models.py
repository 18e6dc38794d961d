"""The database schema (SQLAlchemy 2, typed). The database is the record of truth for jobs, models and results."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Enum, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sthlib.jobkinds import PARENT_KINDS as PARENT_KINDS  # re-exported: the job kinds are sthlib.jobkinds'
from sthlib.jobkinds import JobKind as JobKind
from sthlib.specs import TrainSpec
from sthlib.validation import SpecError
from sthlib.validation import json_safe as json_safe  # re-exported: the store and the API use store.models.json_safe


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(when: datetime) -> datetime:
    """SQLite returns naive datetimes; they are UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}  # noqa: RUF012


class Role(enum.StrEnum):
    member = "member"
    admin = "admin"


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)


class DeviceKind(enum.StrEnum):
    """The kind of device a job asks for (any: whichever worker is free first) and a worker has (gpu or cpu)."""

    any = "any"
    gpu = "gpu"
    cpu = "cpu"

    @classmethod
    def of(cls, device: str) -> DeviceKind:
        """The kind of a torch device string: "cuda", "cuda:1" -> gpu; anything else -> cpu."""
        return cls.gpu if device.startswith("cuda") else cls.cpu

    @property
    def takes(self) -> tuple[DeviceKind, ...]:
        """The jobs' kinds a worker of this kind may run."""
        return (DeviceKind.any, self) if self is not DeviceKind.any else tuple(DeviceKind)


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=16, validate_strings=True)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.member)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    keys: Mapped[list[ApiKey]] = relationship(back_populates="user")


class ApiKey(Base):
    """Only a hash of the key is stored; `prefix` (public) finds the row, the hash proves the secret."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    user: Mapped[User] = relationship(back_populates="keys")


class Blob(Base):
    """A checkpoint or dataset file, stored in chunks (BlobChunk) with the sha256 of the whole."""

    __tablename__ = "blobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    chunks: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BlobChunk(Base):
    __tablename__ = "blob_chunks"
    blob_id: Mapped[str] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Dataset(Base):
    """An uploaded .npz dataset (built-in datasets live on disk and are not rows)."""

    __tablename__ = "datasets"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    blob_id: Mapped[str] = mapped_column(ForeignKey("blobs.id"))
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)  # classes, channels, size, splits, bytes, sha256
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    owner: Mapped[User] = relationship(lazy="joined")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("owner_id", "idempotency_key", name="uq_jobs_owner_idempotency"),
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_finished_at", "finished_at"),  # the owners' device time over the last 24 h (store.queue)
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[JobKind] = mapped_column(_enum(JobKind))
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus), default=JobStatus.queued)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"), default=None, index=True)
    spec: Mapped[dict[str, Any]] = mapped_column()
    spec_hash: Mapped[str] = mapped_column(String(64))
    setting: Mapped[str | None] = mapped_column(String(16), default=None, index=True)  # its model's setting
    idempotency_key: Mapped[str | None] = mapped_column(String(128), default=None)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)  # phase, fraction, epoch, step, eta_s
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # set by an admin; higher runs first (store.queue)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(128), default=None)
    device: Mapped[str | None] = mapped_column(String(64), default=None)  # where it ran ("cuda", "cpu")
    # what it asked for: only workers of this kind claim it (store.queue); a sweep's or report's children inherit it
    device_kind: Mapped[DeviceKind] = mapped_column(_enum(DeviceKind), default=DeviceKind.any, server_default="any")
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    resume_blob_id: Mapped[str | None] = mapped_column(ForeignKey("blobs.id"), default=None)  # last epoch state
    # a parent's ending: a sweep's summary and selection, a report's report
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    owner: Mapped[User] = relationship(lazy="joined")


class Worker(Base):
    """A worker process as it last reported itself (worker.liveness): alive while `last_seen` is recent."""

    __tablename__ = "workers"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)  # Celery's hostname, e.g. gpu0@host
    kind: Mapped[DeviceKind] = mapped_column(_enum(DeviceKind))  # gpu or cpu: the jobs it claims
    device: Mapped[str] = mapped_column(String(128))  # e.g. "NVIDIA H200 (GPU 1)" or "cpu (16 cores)"
    host: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(default=None)  # a clean shutdown: not alive at once


class JobLog(Base):
    __tablename__ = "job_logs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(String(16), default="info")
    message: Mapped[str] = mapped_column(Text)


class Model(Base):
    """A trained or uploaded model, with its provenance and metrics; the weights are a Blob."""

    __tablename__ = "models"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    origin: Mapped[str] = mapped_column(String(16))  # "trained" or "uploaded"
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"), default=None, unique=True)
    arch: Mapped[str] = mapped_column(String(32))
    dataset: Mapped[str] = mapped_column(String(128))
    color: Mapped[str] = mapped_column(String(8))
    in_channels: Mapped[int] = mapped_column(Integer)
    num_classes: Mapped[int] = mapped_column(Integer)
    input_scale: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # the training spec without its seed, as a short hash: models of one setting are seeds of one experiment
    setting: Mapped[str | None] = mapped_column(String(16), default=None, index=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the kept epoch's
    history: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)  # every epoch's metrics
    versions: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # libraries that trained it
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    blob_id: Mapped[str] = mapped_column(ForeignKey("blobs.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    owner: Mapped[User] = relationship(lazy="joined")
    blob: Mapped[Blob] = relationship(lazy="joined")

    def train_spec(self) -> TrainSpec | None:
        """The training spec, typed; None when it has none, or only one that is no TrainSpec (an upload stored
        before uploads were read as TrainSpecs)."""
        try:
            return TrainSpec.from_dict(self.spec) if self.spec else None
        except SpecError:
            return None


class EvalResult(Base):
    """One result of one evaluator on one model (a curve or a perturbation report), as its JSON."""

    __tablename__ = "eval_results"
    __table_args__ = (UniqueConstraint("job_id", "evaluator", "label", name="uq_eval_results_job_evaluator_label"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"), default=None)
    evaluator: Mapped[str] = mapped_column(String(32), index=True)
    label: Mapped[str] = mapped_column(String(64), default="")  # e.g. the corruption name
    kind: Mapped[str] = mapped_column(String(16))  # "curve" or "perturbation"
    group: Mapped[str] = mapped_column(String(16), default="")
    data: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
