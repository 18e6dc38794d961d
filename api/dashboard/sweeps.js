// Sweeps in the dashboard: the form that posts POST /v1/sweeps, and a sweep's page (progress, warnings, the result
// table, a figure comparing its settings, its children). Uses app.js's helpers (el, api, getJSON, ...).
"use strict";

// ---- the form ----------------------------------------------------------------------------------------------------
// A grid as a JSON object, or one field a line: "reg.alpha = 0.1, 1" (each value JSON if it reads as JSON: 1, "x",
// true; else the text itself, so that dataset names need no quotes)
function parseGrid(text) {
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) return parseJSON(trimmed, "grid", "grid");
  const grid = {};
  for (const line of trimmed.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const match = line.match(/^([\w.]+)\s*[=:]\s*(.*)$/);
    if (!match) throw new ApiError(`grid: "${line}" is not "field = value, value" (e.g. reg.alpha = 0.1, 1)`, { field: "grid" });
    if (match[1] in grid) throw new ApiError(`grid: ${match[1]} is given twice`, { field: `grid.${match[1]}` });
    grid[match[1]] = match[2].replace(/^\[|\]$/g, "").split(",").map((v) => v.trim()).filter(Boolean).map((v) => {
      try { return JSON.parse(v); } catch (_) { return v; }
    });
  }
  return grid;
}

function parseSeeds(text) {
  return text.split(/[\s,]+/).filter(Boolean).map((v) => (/^-?\d+$/.test(v) ? Number(v) : v)); // the API says what is wrong
}

function loadSweepForm(presetNames, modelOptions) {
  fillSelect($("#sweep-preset"), presetNames, "quick");
  $("#sweep-source").replaceChildren(el("option", { value: "" }, "none: the sweep trains one"),
    ...modelOptions.map((o) => o.cloneNode(true)));
  if (!$("#sweep-evaluators input")) {
    $("#sweep-evaluators").append(...evaluators.map((e) => el("label", { title: e.description },
      el("input", { type: "checkbox", value: e.name, checked: e.name === "gaussian" }), ` ${e.name}`)));
    $("#sweep-select-by").append(...evaluators.filter((e) => e.kind === "curve").map((e) => el("option", { value: e.name }, e.name)));
  }
}

// The input a 422's details.field points at: "grid.reg.alpha" -> the grid box
const SWEEP_FIELDS = { preset: "#sweep-preset", spec: "#sweep-spec", grid: "#sweep-grid", seeds: "#sweep-seeds",
  evaluators: "#sweep-params", select_by: "#sweep-select-by", min_r0_u0: "#sweep-min" };

function showSweepError(error) {
  for (const selector of Object.values(SWEEP_FIELDS)) $(selector).classList.remove("invalid");
  const box = $("#sweep-error");
  if (!error) { box.hidden = true; return; }
  const field = error.details && error.details.field;
  const input = field ? SWEEP_FIELDS[field.split(".")[0]] : null;
  if (input) $(input).classList.add("invalid");
  box.replaceChildren(field ? el("strong", {}, field) : "", field ? " " : "",
    error.message.replace(/^\d+: /, "").replace(`${field}: `, ""));
  box.hidden = false;
}

// The request from the form; ApiError (details.field naming the input) for what cannot be sent
function sweepRequest() {
  const params = parseJSON($("#sweep-params").value, "parameters", "evaluators");
  const names = [...document.querySelectorAll("#sweep-evaluators input:checked")].map((box) => box.value);
  if (!names.length) throw new ApiError("choose at least one evaluator", { field: "evaluators" });
  const source = $("#sweep-source").value || null;
  const sourced = new Set(evaluators.filter((e) => e.sourced).map((e) => e.name));
  return {
    preset: $("#sweep-preset").value, spec: parseJSON($("#sweep-spec").value, "base changes", "spec"),
    grid: parseGrid($("#sweep-grid").value), seeds: parseSeeds($("#sweep-seeds").value),
    evaluators: names.map((name) => ({ name, params: params[name] || {}, source_model_id: sourced.has(name) ? source : null })),
    select_by: $("#sweep-select-by").value || null, min_r0_u0: Number($("#sweep-min").value),
  };
}

// A refused sweep is said under the form, at its field (not in a toast); once queued, its page opens
async function submitSweep(event) {
  event.preventDefault();
  showSweepError(null);
  let sweep;
  try {
    sweep = await postJSON("/v1/sweeps", sweepRequest());
  } catch (error) {
    if (!(error instanceof ApiError) || error.message === "unauthorized") throw error;
    showSweepError(error);
    return;
  }
  toast(`queued sweep ${sweep.id}`, true);
  await showTab("jobs");
  await openJob(sweep.id);
}

// ---- the page ------------------------------------------------------------------------------------------------------
const fixed = (v, digits) => (v === null || v === undefined ? "" : v.toFixed(digits));

function settingName(row, grid) {
  if (row.baseline) return "baseline (alpha 0)";
  return Object.keys(grid).map((key) => `${key} ${row.values[key]}`).join(", ") || JSON.stringify(row.values);
}

function sweepResultTable(result, grid) {
  const chosen = (row) => result.selected && JSON.stringify(row.values) === JSON.stringify(result.selected.values);
  const perSeed = (values, digits) => `per seed: ${(values || []).map((v) => v.toFixed(digits)).join(", ")}`;
  const keeps = (row) => (row.eligible ? "\u2714" : "\u2717");
  const rows = [result.baseline, ...result.settings].map((row) => el("tr", { className: chosen(row) ? "selected-row" : "" },
    el("td", {}, settingName(row, grid), chosen(row) ? el("span", { className: "badge" }, "selected") : ""),
    el("td", {}, row.models.length),
    el("td", { title: perSeed(row.r0_per_seed, 4) }, fixed(row.r0, 4)),
    el("td", {}, row.baseline ? "1 (U0)" : [fixed(row.r0_u0, 3), " ", el("span", { className: row.eligible ? "ok" : "bad",
      title: row.eligible ? "keeps the minimum: may be selected" : "below the minimum: not selectable" }, keeps(row))]),
    el("td", { title: perSeed(row.auc_per_seed, 4) }, fixed(row.auc, 4))));
  const heads = ["setting", "seeds", "R0 (mean)", `R0/U0 (\u2265 ${result.min_r0_u0})`, `AUC ${result.select_by} (mean)`];
  return el("table", { id: "sweep-table" }, el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows));
}

function sweepSummary(job) {
  const result = job.result;
  const chosen = result.selected ? settingName(result.selected, job.spec.grid)
    : `none: no setting keeps R0/U0 \u2265 ${result.min_r0_u0}`;
  return el("p", { className: "sweep-selected" }, el("strong", {}, "Selected: "), chosen,
    ` (U0 = ${fixed(result.u0, 4)}, the baseline's clean accuracy; ranked by the area under ${result.select_by})`,
    result.source_model ? `; transfer_fgsm's source model ${short(result.source_model)}` : "");
}

function sweepWarnings(result) {
  if (!result.warnings || !result.warnings.length) return "";
  return el("div", { className: "warnings", role: "alert" }, el("strong", {}, `\u26a0 ${result.warnings.length} warning(s)`),
    el("ul", {}, ...result.warnings.map((w) => el("li", {}, w))));
}

async function sweepFigure(jobId) {
  const note = $("#sweep-figure-note");
  const figure = $("#sweep-figure");
  const params = new URLSearchParams({ sweep_id: jobId, group_by: "setting", evaluator: $("#sweep-evaluator").value, format: "png" });
  note.textContent = "drawing...";
  try {
    const blob = await (await api(`/v1/compare?${params}`)).blob();
    if (figure.src) URL.revokeObjectURL(figure.src);
    figure.src = URL.createObjectURL(blob);
    figure.hidden = false;
    note.textContent = `${$("#sweep-evaluator").value}: each setting's mean over its seeds with a 95% t interval`;
  } catch (error) {
    figure.hidden = true;
    note.textContent = `no figure yet: ${error.message.replace(/^\d+: /, "")}`;
  }
}

// The sweep's part of the job page; the figure is drawn once the page is in the document
function sweepPage(job) {
  const names = [...new Set((job.spec.evaluators || []).map((e) => e.name))];
  const parts = [el("p", {}, el("button", { id: "sweep-children", onclick: reportErrors(() => showChildren(job.id)) },
    "list its trainings and evaluations"))];
  if (job.result) parts.push(sweepWarnings(job.result), sweepSummary(job), sweepResultTable(job.result, job.spec.grid));
  parts.push(el("h4", {}, "Settings compared"),
    el("div", { className: "filters" }, el("label", {}, "evaluator ", el("select", { id: "sweep-evaluator" },
      ...names.map((n) => el("option", { value: n }, n)))),
    el("button", { id: "sweep-draw", onclick: reportErrors(() => sweepFigure(job.id)) }, "Draw")),
    el("p", { id: "sweep-figure-note" }),
    el("img", { id: "sweep-figure", alt: "the sweep's settings compared: mean curves with 95% intervals", hidden: true,
      title: "click: full size in a new tab", onclick: (event) => window.open(event.target.src, "_blank") }));
  return parts;
}

function initSweepPage(job) {
  const select = $("#sweep-evaluator");
  if (job.result) select.value = job.result.select_by;
  select.addEventListener("change", reportErrors(() => sweepFigure(job.id)));
  if (job.result) return sweepFigure(job.id); // every model has its results: draw at once
  $("#sweep-figure-note").textContent = "drawn when the sweep ends; Draw compares the settings evaluated so far";
  return null;
}
