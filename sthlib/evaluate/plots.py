"""Figures of robustness results: accuracy curves, perturbation spectra, corruption accuracy by frequency group;
training histories, of one model and of groups of models.

Figures are built as matplotlib.figure.Figure with an Agg canvas attached, so nothing touches pyplot's global state
(no open-figure registry, no backend switch) and the code runs in workers without a display."""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib import rc_context
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from sthlib.evaluate.aggregate import HISTORY_METRICS, HistoryMetric
from sthlib.evaluate.metrics import FREQUENCY_GROUPS
from sthlib.evaluate.results import RobustnessCurve

logger = logging.getLogger(__name__)

FIGSIZE = (6.4, 4.4)  # inches
PNG_DPI = 150
FORMATS = ("png", "svg")
SVG_TEXT: Any = {"svg.fonttype": "none"}  # SVG text stays text (editable in Inkscape or Illustrator), not glyph paths


def _new_axes(title: str | None) -> tuple[Figure, Axes]:
    fig = Figure(figsize=FIGSIZE, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself to fig: rendering without pyplot or a global backend
    ax = fig.add_subplot()
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _x_label(curves: list[RobustnessCurve]) -> str:
    labels: list[str] = []
    for c in curves:
        label = f"{c.x_name} ({c.x_unit})" if c.x_unit else c.x_name
        if label not in labels:
            labels.append(label)
    return " / ".join(labels)


def plot_curves(curves: list[RobustnessCurve], on_correct: bool = False, title: str | None = None) -> Figure:
    """Accuracy vs strength, one line per curve labelled by its model (or its evaluator when it has no model)."""
    if not curves:
        raise ValueError("plot_curves needs at least one curve")
    fig, ax = _new_axes(title)
    for curve in curves:
        points = sorted(curve.points, key=lambda p: p.strength)
        y = [p.accuracy_on_correct if on_correct else p.accuracy for p in points]
        ax.plot([p.strength for p in points], y, marker="o", markersize=3, label=curve.model or curve.evaluator)
    ax.set_xlabel(_x_label(curves))
    ax.set_ylabel("accuracy on initially correct images" if on_correct else "accuracy")
    ax.set_ylim(0.0, 1.0)
    ax.legend()
    return fig


def plot_spectra(spectra: Mapping[str, Mapping[str, Any]], title: str | None = None,
                 colors: Mapping[str, str] | None = None, cutoff: float | None = None) -> Figure:  # fmt: skip
    """Radially averaged power spectra, one line per model label, log-scale power.

    Each value holds "frequency" (bin centres of normalised radial frequency in [0, 0.5]) and "power" (mean power per
    bin, normalised to sum 1), two lists of the same length; optional "components" (Fourier components per bin)
    leaves out the bins that hold none."""
    if not spectra:
        raise ValueError("plot_spectra needs at least one spectrum")
    fig, ax = _new_axes(title)
    given = [(colors or {}).get(label) for label in spectra]
    styles = _line_styles([c or "" for c in given])  # two keys may share a colour: not a line style
    for (label, spectrum), color, (_, linestyle) in zip(spectra.items(), given, styles, strict=True):
        if "frequency" not in spectrum or "power" not in spectrum:
            raise ValueError(f"spectrum {label!r} needs keys 'frequency' and 'power', has {sorted(spectrum)}")
        frequency = np.asarray(spectrum["frequency"], dtype=np.float64)
        power = np.asarray(spectrum["power"], dtype=np.float64)
        if frequency.shape != power.shape or frequency.ndim != 1:
            raise ValueError(f"spectrum {label!r}: {frequency.size} frequencies but {power.size} power values")
        if "components" in spectrum:  # bins that hold no Fourier component (small images) are not drawn as 0
            keep = np.asarray(spectrum["components"]) > 0
            frequency, power = frequency[keep], power[keep]
        ax.plot(frequency, power, marker="o", markersize=3, label=label, color=color,
                linestyle=linestyle if color else "-")  # fmt: skip
    if cutoff is not None:
        ax.axvline(cutoff, color="black", linestyle=":", linewidth=1, label=f"cutoff {cutoff:g} (low | high)")
    ax.set_yscale("log")  # non-positive power values are masked
    ax.set_xlim(0.0, 0.5)
    ax.set_xlabel("normalised radial frequency (cycles per pixel)")
    ax.set_ylabel("fraction of perturbation power")
    ax.legend()
    return fig


def plot_corruptions(tables: Mapping[str, Mapping[str, Any]], title: str | None = None) -> Figure:
    """Grouped bars: mean accuracy (severities 1..5) per frequency group, one bar colour per model label.

    Each table is the output of sthlib.evaluate.metrics.corruption_table; a group the table lacks gets no bar."""
    if not tables:
        raise ValueError("plot_corruptions needs at least one corruption table")
    fig, ax = _new_axes(title if title is not None else "common corruptions by frequency group")
    centres = np.arange(len(FREQUENCY_GROUPS), dtype=np.float64)
    width = 0.8 / len(tables)
    for i, (label, table) in enumerate(tables.items()):
        if "per_group" not in table:
            raise ValueError(f"table {label!r} is not a corruption table (no 'per_group'); use corruption_table")
        per_group: Mapping[str, float] = table["per_group"]
        heights = [float(per_group.get(g, math.nan)) for g in FREQUENCY_GROUPS]
        offsets = centres - 0.4 + width * (i + 0.5)
        ax.bar(offsets, heights, width=width, label=label)
    ax.set_xticks(centres, [f"{g} frequency" for g in FREQUENCY_GROUPS])
    ax.set_ylabel("mean accuracy (severities 1-5)")
    ax.set_ylim(0.0, 1.0)
    ax.legend()
    return fig


def save_figure(fig: Figure, path_without_suffix: str | Path) -> list[Path]:
    """Write fig as PATH.png (dpi 150) and PATH.svg, creating the folder; returns both paths."""
    base = Path(path_without_suffix)
    base.parent.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for fmt in FORMATS:
        path = base.with_name(f"{base.name}.{fmt}")  # not with_suffix: keeps dots in names like "run.v1"
        with rc_context(SVG_TEXT):
            fig.savefig(path, format=fmt, dpi=PNG_DPI)
        paths.append(path)
    logger.info("wrote figure %s", ", ".join(str(p) for p in paths))
    return paths


def figure_bytes(fig: Figure, fmt: str) -> bytes:
    """The figure encoded as "png" (dpi 150) or "svg", e.g. for streaming from the API."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown figure format {fmt!r}; valid formats: {list(FORMATS)}")
    buffer = io.BytesIO()
    with rc_context(SVG_TEXT):
        fig.savefig(buffer, format=fmt, dpi=PNG_DPI)
    return buffer.getvalue()


PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")  # fmt: skip  # matplotlib's tab10: no two alike (two settings on one colour differ by line style)


def color_for(key: str) -> str:
    """A colour fixed by a group's key (its setting): the same in every figure and request, whatever the order."""
    import hashlib

    return PALETTE[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(PALETTE)]


def plot_curve_groups(groups: list[dict[str, Any]], x_label: str, title: str | None = None) -> Figure:
    """One line per group at the mean accuracy over its models, a band for the interval (when n > 1), the chance
    level, and n, AUC and R0/U0 in the legend. Each group: key, label, n, points [{strength, mean, low, high}],
    auc {mean, low, high}, r0_u0 (or None), chance (or None)."""
    if not groups:
        raise ValueError("plot_curve_groups needs at least one group")
    fig, ax = _new_axes(title)
    styles = _line_styles([color_for(g["key"]) for g in groups])  # two keys may share a colour: not a line style
    for group, (color, linestyle) in zip(groups, styles, strict=True):
        points = group["points"]
        x = [p["strength"] for p in points]
        auc = group["auc"]
        legend = f"{group['label']} (n={group['n']}, AUC {auc['mean']:.3f}"
        legend += f" [{auc['low']:.3f}, {auc['high']:.3f}]" if auc["low"] is not None else ""
        legend += f", R0/U0 {group['r0_u0']:.2f})" if group.get("r0_u0") is not None else ")"
        ax.plot(x, [p["mean"] for p in points], marker="o", markersize=3, color=color, linestyle=linestyle,
                label=legend)  # fmt: skip
        if all(p["low"] is not None for p in points):
            ax.fill_between(x, [p["low"] for p in points], [p["high"] for p in points], color=color, alpha=0.2,
                            linewidth=0)  # fmt: skip
    chance = next((g["chance"] for g in groups if g.get("chance")), None)
    if chance:
        ax.axhline(chance, color="black", linestyle=":", linewidth=1, label=f"chance ({chance:.2f})")
    ax.set_xlabel(x_label)
    ax.set_ylabel("accuracy (mean over models; band: 95% t interval)")
    ax.set_ylim(0.0, 1.0)
    ax.legend(fontsize="small", loc="best")
    return fig


def plot_score_groups(groups: list[dict[str, Any]], title: str | None = None) -> Figure:
    """The minimal-perturbation score of each group (mean over its models) with its interval as an error bar."""
    if not groups:
        raise ValueError("plot_score_groups needs at least one group")
    fig, ax = _new_axes(title)
    for i, group in enumerate(groups):
        score = group["score"]
        error = None
        if score["low"] is not None:
            error = [[score["mean"] - score["low"]], [score["high"] - score["mean"]]]
        ax.errorbar([i], [score["mean"]], yerr=error, fmt="o", capsize=4, color=color_for(group["key"]),
                    label=f"{group['label']} (n={group['n']})")  # fmt: skip
    ax.set_xticks(range(len(groups)), [g["label"] for g in groups], rotation=20, ha="right", fontsize="small")
    ax.set_ylabel("score: median ||d||^2/D (mean over models; 95% t interval)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")
    return fig


HISTORY_PANELS = (
    ("cross-entropy (nats)", (("train_loss", "train"), ("valid_loss", "validation"), ("test_loss", "test"))),
    ("accuracy", (("train_acc", "train"), ("valid_acc", "validation"), ("test_acc", "test"))),
    ("L_reg", (("reg_loss", "training pairs (mean over the epoch)"), ("reg_eval_loss", "fixed pairs, eval mode"))),
    ("similarity correlation", (("sim_corr", "Pearson r, predicted vs target, fixed pairs"),)),
)


def plot_history(
    history: Sequence[Mapping[str, Any]], title: str | None = None, best_epoch: int | None = None
) -> Figure:
    """How a model learned, per epoch (0: untrained): losses, accuracies, L_reg and the similarity correlation;
    the kept epoch marked. Metrics a run did not record (an unregularized one has no L_reg) leave their panel empty."""
    if not history:
        raise ValueError("plot_history needs at least one epoch")
    fig = Figure(figsize=(9.6, 6.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2, sharex=True).flatten()
    epochs = [int(h["epoch"]) for h in history]
    for ax, (ylabel, series) in zip(axes, HISTORY_PANELS, strict=True):
        ax.grid(True, alpha=0.3)
        drawn = False
        for key, label in series:
            points = [(e, h.get(key)) for e, h in zip(epochs, history, strict=True) if h.get(key) is not None]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", markersize=3, label=label)
                drawn = True
        if best_epoch is not None:
            ax.axvline(best_epoch, color="black", linestyle=":", linewidth=1, label=f"kept (epoch {best_epoch})")
        ax.set_ylabel(ylabel)
        if drawn:
            ax.legend(fontsize="small")
        else:
            ax.text(0.5, 0.5, "not recorded (unregularized)", ha="center", va="center", transform=ax.transAxes)
    for ax in axes[2:]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    return fig


LineStyle = Literal["-", "--", ":", "-."]
LINE_STYLES: tuple[LineStyle, ...] = ("-", "--", ":", "-.")


def plot_history_groups(
    groups: Sequence[Mapping[str, Any]], metrics: Sequence[HistoryMetric] = HISTORY_METRICS, title: str | None = None
) -> Figure:
    """How groups of models learned: one panel per metric, per group a line at the mean over its models and a band
    for the interval (where n > 1), in the colour of its key (its setting), dashed or dotted when an earlier group
    has that colour already; the legend, in a panel of its own, gives n (a range when seeds trained different
    numbers of epochs). Each group: key, label, n, series {metric key: [{epoch, mean, low, high, n}]} as GET
    /v1/compare/history returns."""
    if not groups:
        raise ValueError("plot_history_groups needs at least one group")
    columns = math.ceil((len(metrics) + 1) / 2)  # the legend takes the last panel
    height = max(6.8, 0.36 * len(groups) + 1.6)  # inches: the legend's panel (half the height) holds every group
    fig = Figure(figsize=(4.2 * columns, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, columns, sharex=True).flatten()
    styles = _line_styles([color_for(g["key"]) for g in groups])
    for i, (ax, metric) in enumerate(zip(axes, metrics, strict=False)):
        ax.set_title(metric.axis, fontsize="medium")
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if i >= columns or i + columns >= len(metrics):  # the bottom row, or above the legend's panel
            ax.set_xlabel("epoch")
            ax.xaxis.set_tick_params(labelbottom=True)
        drawn = [_history_band(ax, g["series"].get(metric.key) or [], color, linestyle)
                 for g, (color, linestyle) in zip(groups, styles, strict=True)]  # fmt: skip
        if not any(drawn):
            ax.text(0.5, 0.5, "not recorded (unregularized)", ha="center", va="center", transform=ax.transAxes)
    for ax in axes[len(metrics) :]:
        ax.axis("off")
    handles: list[Artist] = [Line2D([], [], color=color, linestyle=linestyle, marker="o", markersize=3,
                                    label=_history_legend(g))
                             for g, (color, linestyle) in zip(groups, styles, strict=True)]  # fmt: skip
    if any(p["low"] is not None for g in groups for points in g["series"].values() for p in points):
        handles.append(Patch(color="grey", alpha=0.25, label="95% t interval over the models"))
    axes[-1].legend(handles=handles, loc="center", fontsize="small", frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def _line_styles(colors: list[str]) -> list[tuple[str, LineStyle]]:
    """(colour, line style) per group: groups whose keys share a colour get different line styles."""
    used: dict[str, int] = {}
    styles = []
    for color in colors:
        styles.append((color, LINE_STYLES[used.get(color, 0) % len(LINE_STYLES)]))
        used[color] = used.get(color, 0) + 1
    return styles


def _history_band(ax: Axes, points: Sequence[Mapping[str, Any]], color: str, linestyle: LineStyle) -> bool:
    """One group's series on one panel: the mean line, and the band where the interval exists (n > 1)."""
    if not points:
        return False
    epochs = [p["epoch"] for p in points]
    ax.plot(epochs, [p["mean"] for p in points], marker="o", markersize=3, color=color, linestyle=linestyle)
    low = [math.nan if p["low"] is None else p["low"] for p in points]
    high = [math.nan if p["high"] is None else p["high"] for p in points]
    ax.fill_between(epochs, low, high, color=color, alpha=0.2, linewidth=0)
    return True


def _history_legend(group: Mapping[str, Any]) -> str:
    counts = {p["n"] for points in group["series"].values() for p in points}
    n = f"{min(counts)}-{max(counts)}" if len(counts) > 1 else str(group["n"])
    return f"{group['label']} (n={n})"
