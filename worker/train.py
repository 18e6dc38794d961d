"""A training job: sthlib's Trainer, with progress and epoch checkpoints in the database, resumable."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from sthlib.checkpoint import read_metadata
from sthlib.specs import TrainSpec
from sthlib.train import Callback, EpochMetrics, StepProgress, StopWhen, Trainer
from store.blobs import put_blob, read_blob
from store.models import Blob, Job, Model, json_safe
from worker.context import JobContext
from worker.scratch import scratch


class DatabaseProgress(Callback):
    """Progress (phase, fraction, epoch, step, ETA) and one log line per epoch; the epoch state as a blob."""

    def __init__(self, ctx: JobContext, folder: Path) -> None:
        self.ctx, self.folder = ctx, folder
        self.start = time.monotonic()
        self.start_fraction: float | None = None

    def on_step_end(self, trainer: Trainer, progress: StepProgress) -> None:
        fraction = progress.fraction
        if self.start_fraction is None:
            self.start_fraction = fraction
        done = fraction - self.start_fraction
        eta = (time.monotonic() - self.start) / done * (1 - fraction) if done > 0 else None
        self.ctx.progress(
            phase="train",
            fraction=round(fraction, 4),
            epoch=progress.epoch + 1,
            step=progress.step,
            steps=progress.steps,
            eta_s=None if eta is None else round(eta),
        )

    def on_epoch_end(self, trainer: Trainer, metrics: EpochMetrics) -> None:
        path = self.folder / "state.safetensors"
        trainer.save_state(path)
        with self.ctx.session() as session:
            job = session.get(Job, self.ctx.job_id)
            assert job is not None
            old = job.resume_blob_id
            job.resume_blob_id = put_blob(session, path.read_bytes()).id
            if old:
                session.delete(session.get(Blob, old))
        self.ctx.log(f"epoch {metrics.epoch}/{trainer.spec.epochs}: test acc {metrics.test_acc:.4f}, "
                     f"valid loss {metrics.valid_loss:.4f}, reg loss {metrics.reg_loss}")  # fmt: skip
        self.ctx.progress(force=True, epoch=metrics.epoch, fraction=metrics.epoch / trainer.spec.epochs)


def run_train(ctx: JobContext, spec: TrainSpec) -> None:
    with scratch(ctx.job_id) as folder:
        callbacks = [DatabaseProgress(ctx, folder), StopWhen(ctx.cancel_requested)]
        if ctx.resume_blob:
            state = folder / "resume.safetensors"
            with ctx.session() as session:
                state.write_bytes(read_blob(session, ctx.resume_blob))
            trainer = Trainer.resume(state, ctx.device, callbacks)
            ctx.log(f"resuming after epoch {trainer.epoch}")
        else:
            trainer = Trainer(spec, ctx.device, callbacks)
        ctx.progress(force=True, phase="train", fraction=trainer.epoch / trainer.spec.epochs)
        result = trainer.fit()
        best = folder / "best.safetensors"
        trainer.save_best(best)
        with ctx.session() as session:
            history = [json_safe(m.to_dict()) for m in result.history]
            save_trained_model(session, ctx.job_id, best, trainer.spec, json_safe(result.best.to_dict()), history)


def save_trained_model(session: Session, job_id: str, path: Path, spec: TrainSpec, metrics: dict[str, Any],
                       history: list[dict[str, Any]] | None = None) -> Model:  # fmt: skip
    """The job's one model (models.job_id is unique: a re-run cannot add a second), with every epoch's metrics."""
    existing = session.query(Model).filter_by(job_id=job_id).first()
    if existing is not None:
        return existing
    job = session.get(Job, job_id)
    assert job is not None
    meta = read_metadata(path)
    blob = put_blob(session, path.read_bytes())
    model = Model(
        owner_id=job.owner_id,
        name=f"{spec.setting_label().replace(' ', '-')}-s{spec.seed}-{job_id[:6]}"[-128:],
        origin="trained",
        job_id=job_id,
        arch=spec.arch,
        dataset=spec.dataset,
        color=spec.color,
        in_channels=int(meta["in_channels"]),
        num_classes=int(meta["num_classes"]),
        input_scale=spec.resolved_input_scale(),
        spec=spec.to_dict(),
        setting=spec.setting_hash(),
        metrics=metrics,
        history=history,
        versions=meta.get("versions"),
        blob_id=blob.id,
    )
    session.add(model)
    session.flush()
    return model
