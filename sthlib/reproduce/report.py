"""A reproduction report: the header that lets anyone re-run it, each claim's evidence and verdict, and figures.

`build(inputs)` gives the report as JSON-able data (torch-free, no matplotlib); `render_html(report, figures)` a
self-contained HTML page (inline SVG figures, no external resource); `figures(inputs)` draws the figures (needs
matplotlib). The service and `sth reproduce --local` build the same `ReportInputs` from their results, so they
write the same JSON.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sthlib.evaluate.aggregate import aggregate_curves, aggregate_reports
from sthlib.evaluate.results import RobustnessCurve
from sthlib.jobspecs import SweepSpec
from sthlib.reproduce.claims import ModelResults, judge_all
from sthlib.reproduce.verdict import PAIRED_TEST

REPORT_VERSION = 1
VERDICTS = ("holds", "does not hold", "inconclusive", "not measured")


def data_checksum(name: str, color: str = "gray") -> str:
    """sha256 of a dataset as training reads it (train and test images and labels, uint8 / int64, in order): the
    same whatever file format it came from."""
    from sthlib.data import load_dataset

    digest = hashlib.sha256()
    import numpy as np

    for split in ("train", "test"):
        images, labels = load_dataset(name, split, color)
        digest.update(np.ascontiguousarray(images).tobytes())
        digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()


def header(sweep: SweepSpec, protocol: str, device: str, seconds: float) -> dict[str, Any]:
    """What a re-run needs: protocol, setting hashes, seeds, versions, data checksums, device, wall time."""
    from sthlib.checkpoint import library_versions

    datasets = sorted({sweep.base.dataset, *([sweep.base.reg.dataset] if sweep.base.reg.dataset else [])})
    baseline = sweep.base.replace(**{"reg.alpha": 0.0})
    return {"protocol": protocol, "sth setting": sweep.base.setting_hash(),
            "baseline setting": baseline.setting_hash(), "seeds": list(sweep.seeds),
            "transfer source seed": sweep.source_seed, "versions": library_versions(),
            "data sha256": {d: data_checksum(d, sweep.base.color) for d in datasets}, "device": device,
            "wall seconds": round(seconds, 1)}  # fmt: skip


@dataclass(frozen=True)
class Side:
    """One setting of the report (the baseline or S^Th): its spec's hash and label, and its models by seed."""

    setting: str
    label: str
    spec: dict[str, Any]  # the training spec of its first seed (the seed differs per model)
    models: list[ModelResults]


@dataclass(frozen=True)
class ReportInputs:
    protocol: str
    seeds: list[int]
    baseline: Side
    sth: Side
    evaluators: list[dict[str, Any]]  # the evaluator calls as run
    num_classes: int = 10
    header: dict[str, Any] = field(default_factory=dict)  # versions, data checksums, device, wall time, jobs


def build(inputs: ReportInputs) -> dict[str, Any]:
    """The report as data: header, claims (each with its per-seed values, cited result ids, evidence, verdict)."""
    evaluators = {e["name"] for e in inputs.evaluators}
    claims = judge_all(inputs.baseline.models, inputs.sth.models, evaluators)
    counts = Counter(c["verdict"] for c in claims)
    return {
        "version": REPORT_VERSION,
        "protocol": inputs.protocol,
        "seeds": inputs.seeds,
        "settings": {
            side: {
                "setting": s.setting,
                "label": s.label,
                "spec": s.spec,
                "models": {str(m.seed): m.model_id for m in s.models},
            }
            for side, s in (("baseline", inputs.baseline), ("sth", inputs.sth))
        },
        "evaluators": inputs.evaluators,
        "header": inputs.header,
        "test": PAIRED_TEST,
        "summary": {v: counts.get(v, 0) for v in VERDICTS},
        "claims": claims,
    }


def _groups(inputs: ReportInputs, evaluator: str) -> list[dict[str, Any]]:
    """compare-style groups (plots.plot_curve_groups) of one curve evaluator, one per side."""
    groups = []
    for side in (inputs.baseline, inputs.sth):
        curves = [RobustnessCurve.from_dict(r.data) for m in side.models for r in m.results
                  if r.evaluator == evaluator and r.data.get("kind") == "curve"]  # fmt: skip
        if not curves:
            continue
        r0 = [m.test_acc for m in side.models]
        u0 = [m.test_acc for m in inputs.baseline.models]
        ratio = (sum(r0) / len(r0)) / (sum(u0) / len(u0)) if side is inputs.sth and u0 else None
        groups.append({"key": side.setting, "label": side.label, "n": len(curves), "r0_u0": ratio,
                       "chance": 1 / inputs.num_classes, **aggregate_curves(curves).to_dict()})  # fmt: skip
    return groups


def figures(inputs: ReportInputs) -> dict[str, str]:
    """name -> SVG text: the curves of every curve evaluator (mean and 95% t band per setting), the boundary
    scores, the spectra of the minimal perturbations and the training histories. Needs matplotlib."""
    from sthlib.evaluate import plots
    from sthlib.evaluate.aggregate import HISTORY_METRICS, aggregate_histories

    out: dict[str, str] = {}
    for call in inputs.evaluators:
        name = call["name"]
        groups = _groups(inputs, name)
        if name == "corruption" or not groups:
            continue
        first = next(r for m in inputs.sth.models for r in m.results if r.evaluator == name)
        x_label = f"{first.data['x_name']} ({first.data['x_unit']})"
        fig = plots.plot_curve_groups(groups, x_label, title=name)
        out[name] = plots.figure_bytes(fig, "svg").decode()
    reports = {side.label: [r.data for m in side.models for r in m.results
                            if r.evaluator == "boundary" and r.data.get("kind") == "perturbation"
                            and r.data["summary"].get("score") is not None]  # no success, no score
               for side in (inputs.baseline, inputs.sth)}  # fmt: skip
    if all(reports.values()):
        groups = [{"key": side.setting, "label": side.label, "n": len(reports[side.label]),
                   **aggregate_reports(reports[side.label]).to_dict()}
                  for side in (inputs.baseline, inputs.sth)]  # fmt: skip
        out["boundary"] = plots.figure_bytes(plots.plot_score_groups(groups, title="boundary"), "svg").decode()
        spectra = {g["label"]: g["spectrum"] for g in groups if g.get("spectrum")}
        if len(spectra) == 2:
            cutoff = next(iter(spectra.values())).get("cutoff")
            colors = {g["label"]: plots.color_for(g["key"]) for g in groups}
            fig = plots.plot_spectra(spectra, title="minimal perturbations: radial power spectrum (mean over models)",
                                     colors=colors, cutoff=cutoff)  # fmt: skip
            out["spectrum"] = plots.figure_bytes(fig, "svg").decode()
    histories = [{"key": side.setting, "label": side.label, "n": len(side.models),
                  "series": aggregate_histories([m.history for m in side.models], [h.key for h in HISTORY_METRICS])}
                 for side in (inputs.baseline, inputs.sth) if any(m.history for m in side.models)]  # fmt: skip
    if histories:
        out["history"] = plots.figure_bytes(plots.plot_history_groups(histories, title="training"), "svg").decode()
    return out


STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1b1f24}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #d0d7de;padding:.25em .55em;text-align:left;
vertical-align:top}th{background:#f3f4f6}.holds{background:#dcfce7}.does-not-hold{background:#fee2e2}
.inconclusive{background:#fef9c3}.not-measured{background:#e5e7eb}code{font-size:90%}figure{margin:1em 0}
figure svg{max-width:100%;height:auto}small{color:#57606a}"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return f"<code>{html.escape(json.dumps(value, sort_keys=True))}</code>"
    return html.escape(str(value))


def _interval(evidence: dict[str, Any], key: str) -> str:
    i = evidence[key]
    if i["low"] is None:
        return f"{i['mean']:.4g} (n = {i['n']})"
    return f"{i['mean']:.4g} [{i['low']:.4g}, {i['high']:.4g}] (n = {i['n']})"


def render_html(report: dict[str, Any], svgs: dict[str, str]) -> str:
    """A self-contained page: header, verdicts, per-claim evidence with cited result ids, figures."""
    e = html.escape
    title = f"STh Lab reproduction report: {report['protocol']}"
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{e(title)}</h1>"]  # fmt: skip
    summary = ", ".join(f"{n} {v}" for v, n in report["summary"].items() if n)
    parts.append(
        f"<p><b>{e(summary)}</b> over seeds {e(str(report['seeds']))}. Test: {e(report['test'])}. "
        "A claim holds when the 95% interval of the per-seed difference lies on S^Th's side of 0, does "
        "not hold when it lies on the other side, and is inconclusive at this n when it contains 0.</p>"
    )
    parts.append("<h2>Settings</h2><table><tr><th></th><th>setting</th><th>label</th><th>models (seed: id)</th></tr>")
    for side, s in report["settings"].items():
        parts.append(f"<tr><th>{'S^Th' if side == 'sth' else 'baseline'}</th><td><code>{e(s['setting'])}</code></td>"
                     f"<td>{e(s['label'])}</td><td>{_cell(s['models'])}</td></tr>")  # fmt: skip
    parts.append("</table><h2>Claims</h2><table><tr><th>claim (the paper)</th><th>metric</th><th>baseline</th>"
                 "<th>S^Th</th><th>effect, 95% t interval</th><th>p</th><th>verdict</th></tr>")  # fmt: skip
    for c in report["claims"]:
        ev = c["evidence"]
        cls = c["verdict"].replace(" ", "-")
        if ev is None:
            cells = "<td colspan=4>-</td>"
        else:
            p = "-" if ev["p_value"] is None else f"{ev['p_value']:.3g}"
            cells = (f"<td>{_interval(ev, 'baseline')}</td><td>{_interval(ev, 'sth')}</td>"
                     f"<td>{e(ev['effect_is'])}: {_interval(ev, 'effect')}</td><td>{p}</td>")  # fmt: skip
        verdict = f"<td class='{cls}'><b>{e(c['verdict'])}</b><br><small>{e(c['reason'])}</small></td>"
        parts.append(
            f"<tr id='{e(c['id'])}'><td>{e(c['statement'])}</td><td>{e(c['metric'])}</td>{cells}{verdict}</tr>"
        )
    parts.append("</table><h2>Per seed (the values each verdict rests on, and the stored results they come "
                 "from)</h2><table><tr><th>claim</th><th>side</th><th>seed</th><th>model</th><th>value</th>"
                 "<th>results</th></tr>")  # fmt: skip
    for c in report["claims"]:
        for row in c["per_seed"]:
            value = "-" if row["value"] is None else f"{row['value']:.6g}"
            parts.append(f"<tr><td>{e(c['id'])}</td><td>{e(row['side'])}</td><td>{row['seed']}</td>"
                         f"<td><code>{e(row['model_id'])}</code></td><td>{value}</td>"
                         f"<td><code>{e(' '.join(row['results']))}</code></td></tr>")  # fmt: skip
    parts.append("</table><h2>Figures</h2>")
    for name, svg in svgs.items():
        parts.append(f"<figure id='figure-{e(name)}'>{_inline(svg)}<figcaption>{e(name)}</figcaption></figure>")
    parts.append("<h2>Re-run it</h2><table>")
    for key, value in report["header"].items():
        parts.append(f"<tr><th>{e(key)}</th><td>{_cell(value)}</td></tr>")
    parts.append(f"<tr><th>evaluators</th><td>{_cell(report['evaluators'])}</td></tr></table></body></html>")
    return "\n".join(parts)


def _inline(svg: str) -> str:
    """An SVG document as an inline element: without its XML prolog and doctype."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else ""
