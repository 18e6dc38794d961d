"""Models side by side: the newest results of one evaluator (GET /v1/compare) and how they learned, epoch by epoch
(GET /v1/compare/history), per model or per setting (the mean over its seeds with a 95% Student t interval)."""

from __future__ import annotations

import statistics
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import SessionDep, UserDep, get_model_or_404
from api.errors import invalid, not_found, responses
from api.inputs import Name
from sthlib.csvtext import csv_text
from sthlib.evaluate.aggregate import (
    HISTORY_INTERVAL,
    HISTORY_METRICS,
    INTERVAL,
    aggregate_curves,
    aggregate_histories,
    aggregate_reports,
    t_interval,
)
from sthlib.evaluate.results import RobustnessCurve
from store.models import EvalResult, Job, Model, json_safe

router = APIRouter(prefix="/v1", tags=["compare"], responses=responses(401))
MAX_COMPARED = 64
ModelIds = Annotated[list[Name], Query(max_length=MAX_COMPARED, description="model ids")]
SettingIds = Annotated[list[Name], Query(max_length=MAX_COMPARED, description="setting ids: all their models")]
SweepId = Annotated[Name | None, Query(description="a sweep: the models it trained")]
GROUP_BY = "model: one entry per model; setting: the mean over a setting's models (seeds) with a 95% t interval"
GroupBy = Annotated[Literal["model", "setting"], Query(description=GROUP_BY)]


@router.get("/compare", response_model=None, responses=responses(404))
def compare(
    session: SessionDep, _: UserDep,
    evaluator: Annotated[Name, Query(description="an evaluator of GET /v1/evaluators (curves and minimal "
                                     "perturbations alike)", openapi_examples={"gaussian": {"value": "gaussian"}})],
    model_id: ModelIds = [],  # noqa: B006
    setting: SettingIds = [],  # noqa: B006
    sweep_id: SweepId = None,
    group_by: GroupBy = "model",
    format: Literal["json", "csv", "png", "svg"] = "json",
    plot: Annotated[Literal["auto", "spectrum"], Query(description="figures of minimal-perturbation reports: auto "
                                                       "(the scores with their intervals) or spectrum (the radial "
                                                       "power spectrum of the perturbations)")] = "auto",
) -> Any:  # fmt: skip
    """The newest results of one evaluator for models (named, of settings, of a sweep), per model or per setting
    (mean and 95% Student t interval over its seeds, n models), with the normalised AUC or the headline score, R0
    and R0/U0 against the setting's unregularized twin when one is stored. Figures need matplotlib."""
    models = _compared_models(session, model_id, setting, sweep_id)
    found = _newest_results(session, models, evaluator)
    kinds = {r.kind for rows in found.values() for r in rows}
    if not kinds:
        raise invalid(f"no model asked for has a {evaluator!r} result yet; run an eval job first", "evaluator")
    (kind,) = kinds if len(kinds) == 1 else (sorted(kinds)[0],)
    if group_by == "model":
        missing = [m.id for m in models if not found.get(m.id)]
        if missing:
            raise invalid(f"model {missing[0]} has no {evaluator!r} result yet; run an eval job first", "evaluator")
    groups = _groups(session, models, found, group_by)
    if format == "csv":
        return Response(_compare_csv(groups, kind), media_type="text/csv")
    if format in ("png", "svg"):
        return _compare_figure(groups, kind, evaluator, plot, format)
    return {"evaluator": evaluator, "kind": kind, "group_by": group_by, "interval": INTERVAL,
            "missing": [m.id for m in models if not found.get(m.id)], "groups": groups}  # fmt: skip


def _compared_models(session: Session, ids: list[str], settings: list[str], sweep_id: str | None) -> list[Model]:
    if not (ids or settings or sweep_id):
        raise invalid("name the models to compare: model_id, setting or sweep_id", "model_id")
    models = [get_model_or_404(session, ident) for ident in ids]
    for key in settings:
        of_setting = list(session.scalars(select(Model).where(Model.setting == key).order_by(Model.created_at)))
        if not of_setting:
            raise not_found("setting", key)
        models.extend(of_setting)
    if sweep_id:
        query = select(Model).join(Job, Model.job_id == Job.id).where(Job.parent_id == sweep_id)
        of_sweep = list(session.scalars(query.order_by(Model.created_at)).unique())
        if not of_sweep:
            raise not_found("sweep with trained models", sweep_id)
        models.extend(of_sweep)
    unique = list({m.id: m for m in models}.values())
    if len(unique) > MAX_COMPARED:
        raise invalid(f"{len(unique)} models to compare; at most {MAX_COMPARED}", "model_id")
    return unique


def _newest_results(session: Session, models: list[Model], evaluator: str) -> dict[str, list[EvalResult]]:
    """model id -> its newest result per label (corruption name) of `evaluator`."""
    query = select(EvalResult).where(EvalResult.model_id.in_([m.id for m in models]), EvalResult.evaluator == evaluator)
    newest: dict[str, dict[str, EvalResult]] = {}
    for r in session.scalars(query.order_by(EvalResult.created_at)):
        newest.setdefault(r.model_id, {})[r.label] = r
    return {model: list(rows.values()) for model, rows in newest.items()}


def _test_acc(model: Model) -> float | None:
    value = (model.metrics or {}).get("test_acc")
    return float(value) if isinstance(value, int | float) else None


def _groups(session: Session, models: list[Model], found: dict[str, list[EvalResult]],
            group_by: str) -> list[dict[str, Any]]:  # fmt: skip
    """One entry per group and result label: its models, the aggregate of their results, R0, and R0/U0 against the
    unregularized twin of its setting (from every stored model of that setting, asked for or not)."""
    entries = []
    for key, group in _members([m for m in models if found.get(m.id)], group_by).items():
        spec = group[0].train_spec()
        label = _group_label(group, group_by)
        accuracies = [a for a in map(_test_acc, group) if a is not None]
        r0 = t_interval(accuracies).to_dict() if accuracies else None
        u0, baseline = None, None
        if spec is not None and spec.reg.enabled:
            baseline = spec.baseline_setting_hash()
            twins = [a for a in map(_test_acc, session.scalars(select(Model).where(Model.setting == baseline)))
                     if a is not None]  # fmt: skip
            u0 = statistics.fmean(twins) if twins else None
        by_label: dict[str, list[EvalResult]] = {}
        for m in group:
            for r in found[m.id]:
                by_label.setdefault(r.label, []).append(r)
        for result_label, rows in sorted(by_label.items()):
            entry: dict[str, Any] = {"key": key, "label": label, "result_label": result_label, "setting":
                                     group[0].setting, "models": [r.model_id for r in rows], "n": len(rows),
                                     "seeds": [_seed(m) for m in group if any(r.model_id == m.id for r in rows)],
                                     "r0": r0, "u0": u0, "baseline_setting": baseline,
                                     "r0_u0": r0["mean"] / u0 if r0 and u0 else None}  # fmt: skip
            try:
                if rows[0].kind == "curve":
                    curves = [RobustnessCurve.from_dict(r.data) for r in rows]
                    entry.update(aggregate_curves(curves).to_dict(), x_name=curves[0].x_name, x_unit=curves[0].x_unit,
                                 group=rows[0].group, chance=1 / group[0].num_classes)  # fmt: skip
                else:
                    entry.update(aggregate_reports([r.data for r in rows]).to_dict())
            except (KeyError, TypeError, ValueError) as e:
                raise invalid(f"{label}: {e}", "evaluator") from None
            entries.append(json_safe(entry))
    return entries


def _members(models: list[Model], group_by: str) -> dict[str, list[Model]]:
    """group key (a setting, or a model id) -> its models, in the order asked for."""
    members: dict[str, list[Model]] = {}
    for m in models:
        members.setdefault((m.setting or m.id) if group_by == "setting" else m.id, []).append(m)
    return members


def _group_label(group: list[Model], group_by: str) -> str:
    spec = group[0].train_spec()
    return spec.setting_label() if spec and group_by == "setting" else group[0].name


def _seed(model: Model) -> int | None:
    spec = model.train_spec()
    return spec.seed if spec else None


def _compare_csv(groups: list[dict[str, Any]], kind: str) -> str:
    if kind == "curve":
        return csv_text(["group", "label", "result_label", "n", "strength", "mean_accuracy", "low", "high", "auc_mean",
                         "r0_u0"],
                        [[g["key"], g["label"], g["result_label"], p["n"], p["strength"], p["mean"], p["low"],
                          p["high"], g["auc"]["mean"], g["r0_u0"]] for g in groups for p in g["points"]])  # fmt: skip
    return csv_text(["group", "label", "n", "score_mean", "score_low", "score_high", "success_rate_mean", "r0_u0"],
                    [[g["key"], g["label"], g["n"], g["score"]["mean"], g["score"]["low"], g["score"]["high"],
                      g["success_rate"]["mean"], g["r0_u0"]] for g in groups])  # fmt: skip


def _compare_figure(groups: list[dict[str, Any]], kind: str, evaluator: str, plot: str, format: str) -> Response:
    from sthlib.evaluate.plots import color_for, figure_bytes, plot_curve_groups, plot_score_groups, plot_spectra

    if kind == "curve":
        if len({g["result_label"] for g in groups}) > 1:
            raise invalid("a figure shows one curve per group: this evaluator has several per model (corruptions); "
                          "ask for json or csv", "format")  # fmt: skip
        unit = groups[0].get("x_unit")
        x_label = f"{groups[0].get('x_name')} ({unit})" if unit else str(groups[0].get("x_name"))
        figure = plot_curve_groups(groups, x_label, title=evaluator)
    elif plot == "spectrum":
        spectra = {f"{g['label']} (n={g['n']})": g for g in groups if g.get("spectrum")}
        if not spectra:
            raise invalid("these reports have no spectrum on shared bins", "plot")
        figure = plot_spectra({k: g["spectrum"] for k, g in spectra.items()},
                              title=f"{evaluator}: spectrum of the minimal perturbations (mean over models)",
                              colors={k: color_for(g["key"]) for k, g in spectra.items()},
                              cutoff=next(iter(spectra.values()))["spectrum"].get("cutoff"))  # fmt: skip
    else:
        figure = plot_score_groups(groups, title=f"{evaluator}: minimal perturbation")
    return _image(figure_bytes(figure, format), format)


def _image(content: bytes, format: str) -> Response:
    return Response(content, media_type="image/png" if format == "png" else "image/svg+xml")


class HistoryPoint(BaseModel):
    epoch: int
    mean: float
    low: float | None = Field(description="the interval's bounds; null for n = 1")
    high: float | None
    n: int = Field(description="the group's models that recorded the metric at this epoch")
    std: float | None = Field(description="sample standard deviation (ddof 1); null for n = 1")


class HistoryGroup(BaseModel):
    key: str = Field(description="the setting (group_by=setting) or the model id")
    label: str
    setting: str | None
    models: list[str]
    seeds: list[int | None]
    n: int = Field(description="the group's models")
    series: dict[str, list[HistoryPoint]] = Field(description="per metric, per epoch it was recorded at")


class HistoryComparison(BaseModel):
    group_by: Literal["model", "setting"]
    interval: str
    metrics: dict[str, str] = Field(description="each metric of the series and what it measures")
    missing: list[str] = Field(description="models asked for that have no per-epoch history (uploaded without one)")
    groups: list[HistoryGroup]


HISTORY_FORMATS = {"content": {"text/csv": {}, "image/png": {}, "image/svg+xml": {}},
                   "description": "JSON, or CSV rows per group, epoch and metric, or a figure"}  # fmt: skip


@router.get("/compare/history", response_model=None,
            responses={**responses(404), 200: {"model": HistoryComparison, **HISTORY_FORMATS}})  # fmt: skip
def compare_history(
    session: SessionDep, _: UserDep,
    model_id: ModelIds = [],  # noqa: B006
    setting: SettingIds = [],  # noqa: B006
    sweep_id: SweepId = None,
    group_by: GroupBy = "model",
    format: Literal["json", "csv", "png", "svg"] = "json",
) -> Any:  # fmt: skip
    """How models learned, side by side: per group (a model, or a setting's models) and per epoch, the mean over
    its models with a 95% Student t interval and n (the models that reached the epoch: seeds may have trained
    different numbers of epochs) of the train loss, L_reg, train and validation accuracy and the similarity
    correlation. Figures need matplotlib: one panel per metric, a line and band per group."""
    models = _compared_models(session, model_id, setting, sweep_id)
    missing = [m.id for m in models if not m.history]
    if len(missing) == len(models) or (group_by == "model" and missing):
        raise invalid(f"model {missing[0]} has no per-epoch history (uploaded without one)", "model_id")
    groups = [_history_group(key, group, group_by) for key, group in _members(
        [m for m in models if m.history], group_by).items()]  # fmt: skip
    if format == "csv":
        return Response(_history_csv(groups), media_type="text/csv")
    if format in ("png", "svg"):
        from sthlib.evaluate.plots import figure_bytes, plot_history_groups

        title = "training history by setting (mean over its models)" if group_by == "setting" else "training history"
        return _image(figure_bytes(plot_history_groups([g.model_dump() for g in groups], title=title), format), format)
    return HistoryComparison(group_by=group_by, interval=HISTORY_INTERVAL, missing=missing, groups=groups,
                             metrics={m.key: f"{m.axis}: {m.description}" for m in HISTORY_METRICS})  # fmt: skip


def _history_group(key: str, group: list[Model], group_by: str) -> HistoryGroup:
    series = aggregate_histories([m.history or [] for m in group], [m.key for m in HISTORY_METRICS])
    return HistoryGroup(key=key, label=_group_label(group, group_by), setting=group[0].setting,
                        models=[m.id for m in group], seeds=[_seed(m) for m in group], n=len(group),
                        series={k: [HistoryPoint(**p) for p in points] for k, points in series.items()})  # fmt: skip


def _history_csv(groups: list[HistoryGroup]) -> str:
    """One row per group, epoch and metric recorded (a long table: one filter or pivot away from any plot)."""
    rows = []
    for g in groups:
        points = sorted(((p.epoch, metric, p) for metric, points in g.series.items() for p in points),
                        key=lambda row: row[0])  # fmt: skip
        rows += [[g.key, g.label, epoch, metric, p.n, p.mean, p.low, p.high, p.std] for epoch, metric, p in points]
    return csv_text(["group", "label", "epoch", "metric", "n", "mean", "low", "high", "std"], rows)
