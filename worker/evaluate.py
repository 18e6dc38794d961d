"""An evaluation job: each evaluator on one model; results go to the database as they come.

A job resumed after its worker died skips the evaluators whose results are already stored (no duplicates)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from sthlib.evalspecs import SourceRef
from sthlib.evaluate import evaluate, get_evaluator, load_classifier
from sthlib.evaluate.classifier import Classifier, LoadedModel
from sthlib.jobspecs import EvalJobSpec
from store.blobs import read_blob
from store.models import EvalResult, Model, json_safe
from worker.context import JobCancelled, JobContext
from worker.scratch import scratch


def load_stored_model(ctx: JobContext, model_id: str, folder: Path) -> LoadedModel:
    path = folder / f"{model_id}.safetensors"
    with ctx.session() as session:
        model = session.get(Model, model_id)
        if model is None:
            raise ValueError(f"model {model_id} no longer exists")
        path.write_bytes(read_blob(session, model.blob_id))
        name, dataset = model.name, model.dataset
    loaded = load_classifier(path, device=ctx.device, name=name)
    return LoadedModel(loaded.classifier, loaded.spec, dataset, loaded.color)


def load_source(ctx: JobContext, source: SourceRef, folder: Path) -> Classifier:
    """A transfer attack's source model: a stored model, or a checkpoint file on this machine."""
    if source.kind == "model":
        return load_stored_model(ctx, source.ref, folder).classifier
    if source.kind == "checkpoint":
        return load_classifier(Path(source.ref), device=ctx.device).classifier
    raise ValueError("the source model of a sweep's transfer attack is not trained yet")


def run_evaluation(ctx: JobContext, spec: EvalJobSpec) -> None:
    with scratch(ctx.job_id) as folder:
        loaded = load_stored_model(ctx, spec.model_id, folder)
        ctx.fetch_uploads([loaded.dataset])  # the test images it is evaluated on (a source model needs none)
        with ctx.session() as session:
            done = set(session.scalars(select(EvalResult.evaluator).where(EvalResult.job_id == ctx.job_id)))
        todo = spec.evaluators
        for index, call in enumerate(todo):
            name = call.name
            if name in done:
                ctx.log(f"{name}: results already stored, skipped")
                continue
            extra: dict[str, Classifier] = {}
            if call.source is not None:
                extra["source_model"] = load_source(ctx, call.source, folder)
            evaluator = get_evaluator(name, params=call.params, **extra)

            def report(fraction: float, index: int = index, name: str = name) -> None:
                if ctx.cancel_requested():
                    raise JobCancelled(f"cancelled during {name}")
                ctx.progress(phase=name, fraction=round((index + fraction) / len(todo), 4))

            ctx.progress(force=True, phase=name, fraction=round(index / len(todo), 4))
            results = evaluate(loaded, evaluator, progress=report)
            with ctx.session() as session:
                for result in results:
                    label = result.params.get("corruption", "") if hasattr(result, "params") else ""
                    session.add(EvalResult(model_id=spec.model_id, job_id=ctx.job_id, evaluator=name, label=label,
                                           kind=result.to_dict()["kind"], group=getattr(result, "group", ""),
                                           data=json_safe(result.to_dict())))  # fmt: skip
            ctx.log(f"{name}: {len(results)} result(s) stored")
