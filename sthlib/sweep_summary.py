"""A finished sweep's table and selection (PAPER.md section 1): per setting, the means over seeds of clean test
accuracy R0 and of the normalized AUC of `select_by`'s curves; R0/U0 against the baseline; the largest AUC among
the settings that keep R0/U0 >= min_r0_u0. With warnings a reader needs: a selection no more robust than the
baseline, and a baseline that was still learning when its training ended (its U0 is then too low, which flatters
every R0/U0). store.sweeps reads the stored models and results into SweptModel rows. Torch-free."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from sthlib.evaluate.metrics import r0_u0, select_by_auc
from sthlib.jobspecs import SweepSpec

UNDERTRAINED_GAIN = 0.01  # validation accuracy gained in the last epoch, kept as the best: still learning


@dataclass(frozen=True)
class SweptModel:
    """One trained and evaluated model of a sweep."""

    model_id: str
    values: dict[str, Any]  # its grid point ({} for the baseline)
    baseline: bool  # reg.alpha 0
    r0: float  # clean test accuracy
    auc: float  # normalized AUC of select_by's curve (mean over its curves)
    history: list[dict[str, Any]] = field(default_factory=list)  # per-epoch metrics (epoch, valid_acc, ...)
    kept_epoch: int | None = None  # the epoch whose weights were kept (lowest validation loss)


def last_gain(history: list[dict[str, Any]]) -> float:
    """Validation accuracy gained in the last epoch (0 with fewer than two epochs)."""
    return float(history[-1]["valid_acc"] - history[-2]["valid_acc"]) if len(history) >= 2 else 0.0


def still_learning(model: SweptModel) -> bool:
    """The model kept its last epoch, and that epoch raised validation accuracy by at least UNDERTRAINED_GAIN."""
    history = model.history
    if len(history) < 2:
        return False
    return model.kept_epoch == history[-1].get("epoch") and last_gain(history) >= UNDERTRAINED_GAIN


def summarize(sweep: SweepSpec, models: list[SweptModel]) -> dict[str, Any]:
    """The sweep's result: its settings' rows (means over seeds and per-seed values), the baseline's, the selected
    setting (None when none keeps R0/U0 >= min_r0_u0) and the warnings."""
    rows: dict[str, dict[str, Any]] = {}
    for model in models:
        row = rows.setdefault(json.dumps(model.values, sort_keys=True),
                              {"values": model.values, "baseline": model.baseline, "models": [], "r0": [],
                               "auc": []})  # fmt: skip
        row["models"].append(model.model_id)
        row["r0"].append(model.r0)
        row["auc"].append(model.auc)
    table = [{**row, "r0": statistics.fmean(row["r0"]), "auc": statistics.fmean(row["auc"]),
              "r0_per_seed": row["r0"], "auc_per_seed": row["auc"]} for row in rows.values()]  # fmt: skip
    (base,) = [row for row in table if row["baseline"]]
    u0, minimum = base["r0"], sweep.min_r0_u0
    settings = [row for row in table if not row["baseline"]]
    for row in [*settings, base]:
        row["r0_u0"] = r0_u0(row["r0"], u0)
        row["eligible"] = row["r0_u0"] >= minimum
    picked = select_by_auc([(str(i), r["r0"], r["auc"]) for i, r in enumerate(settings)], u0, minimum)
    selected = None if picked is None else settings[int(picked)]
    return {"select_by": sweep.select_by, "min_r0_u0": minimum, "u0": u0, "baseline": base, "settings": settings,
            "selected": selected, "warnings": _warnings(sweep, selected, base, models)}  # fmt: skip


def _warnings(sweep: SweepSpec, selected: dict[str, Any] | None, base: dict[str, Any],
              models: list[SweptModel]) -> list[str]:  # fmt: skip
    warnings = []
    if selected is not None and selected["auc"] <= base["auc"]:
        warnings.append(f"the selected setting is not more robust than the baseline: {sweep.select_by} AUC "
                        f"{selected['auc']:.3f} vs {base['auc']:.3f} (means over seeds)")  # fmt: skip
    learning = [m for m in models if m.baseline and still_learning(m)]
    if learning:
        gains = ", ".join(f"{last_gain(m.history):+.3f}" for m in learning)
        warnings.append(f"the baseline looks undertrained: {len(learning)} of its {len(base['models'])} "
                        f"model(s) kept their last epoch and gained {gains} validation accuracy in it; U0 = "
                        f"{base['r0']:.3f}. Train longer (epochs) before reading R0/U0 and the selection")  # fmt: skip
    return warnings
