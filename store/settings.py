"""Service settings from the environment (prefix STH_), shared by the API and the workers."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

HOME = Path.home() / ".sth"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STH_", extra="ignore")

    database_url: str = Field(default=f"sqlite:///{HOME / 'sth.db'}", description="SQLAlchemy URL")
    broker_url: str = Field(default=f"filesystem://{HOME / 'broker'}", description="Celery broker URL")
    blob_chunk_bytes: int = Field(default=1 << 20, description="checkpoint blobs are stored in chunks of this size")
    max_upload_bytes: int = Field(default=512 << 20, description="largest model upload")
    max_dataset_bytes: int = Field(
        default=1 << 30, description="largest dataset upload, and the most its arrays may take uncompressed"
    )
    max_json_bytes: int = Field(
        default=1 << 20, ge=1, description="largest request body other than an upload (JSON); larger ones get 413"
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="a request body other than an upload's must arrive whole within this, and no body (uploads "
        "included) may pause longer between two pieces; 408 otherwise, and the connection is closed",
    )
    heartbeat_s: float = Field(default=2.0, gt=0, description="a running job's worker touches it this often")
    heartbeat_timeout_s: float = Field(
        default=10.0, gt=0, description="a running job silent this long is orphaned and given to another worker"
    )
    reconcile_every_s: float = Field(
        default=5.0, gt=0, description="how often a worker looks for lost messages, orphaned jobs and stuck sweeps"
    )
    broker_visibility_timeout_s: float = Field(
        default=3600.0,
        gt=0,
        description="Redis: a message taken but not acknowledged this long is delivered again (a running job's "
        "duplicate is dropped by its claim; lost messages are re-sent within seconds by the reconciler anyway)",
    )
    metrics_token: str = Field(
        default="", description="if set, GET /metrics requires 'Authorization: Bearer <token>' (it names users)"
    )
    api_concurrency: int = Field(
        default=16, ge=1, description="requests each API process serves at once; the others wait (api_queue_wait_s)"
    )
    api_queue_wait_s: float = Field(
        default=1.0, ge=0, description="longest wait for a free slot before a request is answered 503 (saturated)"
    )
    api_cache_s: float = Field(
        default=1.0,
        ge=0,
        description="each API process reuses GET /v1/jobs pages and API key checks this long "
        "(0: never); changes made through the same process are seen at once, others within this",
    )
    api_queue_max: int = Field(default=256, ge=0, description="requests that may wait for a slot; beyond: 503 at once")
    db_statement_timeout_s: float = Field(
        default=15.0, gt=0, description="PostgreSQL: longest statement of the API and workers (statement_timeout)"
    )
    db_lock_timeout_s: float = Field(
        default=5.0, gt=0, description="PostgreSQL: longest wait for a row or table lock (lock_timeout)"
    )
    db_idle_in_transaction_s: float = Field(
        default=60.0, gt=0, description="PostgreSQL: a session idle inside a transaction this long is ended"
    )


RUN_JOB_TASK = "sth.run_job"  # the one Celery task; the API sends it by name and never imports the worker
JOB_QUEUE = "sth"  # wake-ups for jobs that run on any device: every worker listens (the name before device kinds)
DEVICE_QUEUES = {"gpu": f"{JOB_QUEUE}.gpu", "cpu": f"{JOB_QUEUE}.cpu"}  # wake-ups for jobs that ask for a kind
WAKE_QUEUES = (JOB_QUEUE, *DEVICE_QUEUES.values())


def wake_queue(device_kind: str) -> str:
    """The queue whose workers can take a job asking for `device_kind` (any, gpu or cpu)."""
    return DEVICE_QUEUES.get(device_kind, JOB_QUEUE)


def worker_queues(worker_kind: str) -> tuple[str, ...]:
    """The queues a worker of `worker_kind` (gpu or cpu) listens to: its kind's and the any-device one."""
    return (JOB_QUEUE, DEVICE_QUEUES[worker_kind])


def broker_transport_options(broker_url: str, visibility_timeout_s: float | None = None) -> dict[str, object]:
    """Kombu options for the broker URL: Redis gets a connect timeout (an unreachable broker fails fast instead of
    holding a request) and the visibility timeout; the filesystem broker keeps its messages in folders under its
    path."""
    if broker_url.startswith(("redis://", "rediss://")):
        # an idle worker sweeps the messages taken and not acknowledged every 10 s (kombu's default is every 100 s)
        options: dict[str, object] = {"socket_connect_timeout": 2, "unacked_restore_interval": 10,
                                      "unacked_restore_throttle": 1}  # fmt: skip
        if visibility_timeout_s is not None:
            options["visibility_timeout"] = visibility_timeout_s
        return options
    if not broker_url.startswith("filesystem://"):
        return {}
    root = Path(broker_url.removeprefix("filesystem://") or HOME / "broker").expanduser()
    for sub in ("queue", "processed", "control"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    # control: kombu's exchange bindings, which default to ./control in the working directory
    return {"data_folder_in": str(root / "queue"), "data_folder_out": str(root / "queue"),
            "processed_folder": str(root / "processed"), "control_folder": str(root / "control"),
            "store_processed": False}  # fmt: skip


def celery_broker_url(broker_url: str) -> str:
    return "filesystem://" if broker_url.startswith("filesystem://") else broker_url


@lru_cache
def get_settings() -> Settings:
    return Settings()
