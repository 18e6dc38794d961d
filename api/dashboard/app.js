// STh Lab dashboard: a client of the REST API (/v1), with the user's API key kept in this browser's localStorage.
// No framework and no build step: the API serves these files as they are. Text from the server is always set with
// textContent, never parsed as HTML.
"use strict";

const $ = (selector) => document.querySelector(selector);
const KEY_STORAGE = "sth_api_key";
let key = localStorage.getItem(KEY_STORAGE) || "";
let me = null;
let follow = null; // AbortController of the job whose events are followed
let evaluators = [];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "onclick") node.addEventListener("click", value);
    else if (name === "className") node.className = value;
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    node.append(child instanceof Node ? child : document.createTextNode(child === null || child === undefined ? "" : String(child)));
  }
  return node;
}

function toast(message, ok = false) {
  const box = $("#toast");
  box.textContent = message;
  box.className = ok ? "ok" : "";
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, ok ? 4000 : 10000);
}

// An error to show the user; `details` as the API sent them (a 422 names the field: details.field)
class ApiError extends Error {
  constructor(message, details = null) {
    super(message);
    this.details = details;
  }
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${key}` };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    showLogin("That API key is unknown or revoked.");
    throw new ApiError("unauthorized");
  }
  if (!response.ok) {
    let message = response.statusText;
    let details = null;
    try {
      const body = await response.json();
      ({ message, details } = body.error);
    } catch (_) { /* not an error body */ }
    throw new ApiError(`${response.status}: ${message}`, details);
  }
  return response;
}

const getJSON = async (path) => (await api(path)).json();
const postJSON = async (path, body) => (await api(path, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
})).json();

function reportErrors(action) {
  return async (...args) => {
    try {
      await action(...args);
    } catch (error) {
      if (!(error instanceof ApiError && error.message === "unauthorized")) toast(error.message);
    }
  };
}

function showLogin(message) {
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#logout").hidden = true;
  $("#who").textContent = "";
  if (message) toast(message);
}

async function signIn() {
  // the catalogue is in hand before any tab shows: the submit and compare forms list its evaluators
  [me, evaluators] = await Promise.all([getJSON("/v1/me"), getJSON("/v1/evaluators")]);
  $("#who").textContent = `${me.name} (${me.role})`;
  $("#toast").hidden = true; // an error from before the sign-in is stale now
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  await showTab("jobs");
}

// A select's options drawn again from the server's list, keeping the user's choice (at first: `initial`, if given)
function fillSelect(select, names, initial = "") {
  const chosen = select.value || initial;
  select.replaceChildren(...names.map((name) => el("option", { value: name }, name)));
  if (chosen) select.value = chosen;
}

// ---- tabs ------------------------------------------------------------------------------------------------------
const loaders = { jobs: loadJobs, models: loadModels, submit: loadSubmit, datasets: loadDatasets };

// A tab's forms stay disabled until its loader has filled their choices (presets, models, datasets): a click
// before then would send empty selections and get a confusing 422 (seen in CI, where the browser is quick).
async function showTab(name) {
  const buttons = document.querySelectorAll(`#tab-${name} form button`);
  for (const button of buttons) button.disabled = true;
  for (const button of document.querySelectorAll("#tabs button")) button.classList.toggle("active", button.dataset.tab === name);
  for (const section of document.querySelectorAll(".tab")) section.hidden = section.id !== `tab-${name}`;
  showTab.current = name;
  try {
    await loaders[name]();
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}

// ---- jobs ------------------------------------------------------------------------------------------------------
const WIDE = 1200; // px: from here the details show beside their list (style.css says the same)
const short = (id) => (id ? id.slice(0, 8) : "");
const canChange = (job) => me && (me.role === "admin" || job.owner === me.name);

function progressCell(job) {
  const p = job.progress || {};
  const fraction = Math.max(0, Math.min(1, p.fraction || 0));
  const bar = el("span", { className: "bar" }, el("span", { style: `width: ${(fraction * 100).toFixed(1)}%` }));
  const parts = [`${Math.round(fraction * 100)}%`];
  if (p.phase) parts.push(p.phase);
  if (p.epoch) parts.push(`epoch ${p.epoch}`);
  if (p.step && p.steps) parts.push(`step ${p.step}/${p.steps}`);
  if (p.eta_s && job.status === "running") parts.push(p.eta_s >= 60 ? `ETA ${Math.round(p.eta_s / 60)} min` : `ETA ${p.eta_s} s`);
  return el("td", { className: "progress" }, bar, " ", parts.join(" "));
}

let parentFilter = null; // a sweep's id: the list shows its children only

async function loadJobs() {
  const params = new URLSearchParams({ page_size: "100" });
  if ($("#f-status").value) params.set("status", $("#f-status").value);
  if ($("#f-kind").value) params.set("kind", $("#f-kind").value);
  if ($("#f-mine").checked) params.set("owner", me.name);
  if (parentFilter) params.set("parent_id", parentFilter);
  $("#f-parent").hidden = !parentFilter;
  $("#f-parent-id").textContent = short(parentFilter);
  const [page, running] = await Promise.all([
    getJSON(`/v1/jobs?${params}`), getJSON("/v1/jobs?status=running&page_size=200"),
  ]);
  const opened = $("#job-detail").hidden ? null : $("#job-detail").dataset.job;
  const rows = page.items.map((job) => el("tr", { "data-job": job.id, className: job.id === opened ? "opened" : "" },
    el("td", { className: "id", title: job.id }, short(job.id)),
    el("td", { className: "kind" }, job.kind, job.parent_id ? el("span", { className: "sub", title: job.parent_id }, `of ${short(job.parent_id)}`) : ""),
    el("td", { className: "what", title: job.label || "" }, job.label || ""),
    el("td", { className: "state" }, el("span", { className: `status status-${job.status}` }, job.status),
      job.error ? ` ${job.error.message || ""}`.slice(0, 80) : "",
      job.waiting_for ? el("span", { className: "sub waiting", title: job.waiting_for }, job.waiting_for.split(":")[0]) : ""),
    el("td", { className: "secondary" }, job.owner),
    progressCell(job),
    el("td", { className: "secondary" }, [job.worker, job.device].filter(Boolean).join(" / ")),
    el("td", { className: "secondary" }, new Date(job.created_at).toLocaleString()),
    el("td", { className: "actions" },
      el("button", { onclick: reportErrors(() => openJob(job.id)) }, { sweep: "sweep page", report: "report" }[job.kind] || "details"),
      canChange(job) && ["queued", "running"].includes(job.status) && !job.cancel_requested
        ? el("button", { onclick: reportErrors(async () => { await api(`/v1/jobs/${job.id}/cancel`, { method: "POST" }); await loadJobs(); }) }, "cancel") : "",
      canChange(job) && ["failed", "cancelled"].includes(job.status)
        ? el("button", { onclick: reportErrors(async () => { const again = await postJSON(`/v1/jobs/${job.id}/retry`, {}); toast(`queued ${again.id}`, true); await loadJobs(); }) }, "retry") : ""),
  ));
  $("#jobs tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 9 }, "no job matches"))]));
  const gpus = running.items.filter((job) => !["sweep", "report"].includes(job.kind)).map((job) => el("tr", {},
    el("td", {}, job.worker || "?"), el("td", {}, job.device || "?"), el("td", {}, job.owner),
    el("td", { className: "id", title: job.id }, `${job.kind} ${short(job.id)}`), progressCell(job)));
  const onGpu = running.items.some((job) => (job.device || "").startsWith("cuda"));
  $("#gpus-title").textContent = onGpu ? "GPUs in use" : "Workers in use";
  $("#gpus tbody").replaceChildren(...(gpus.length ? gpus : [el("tr", {}, el("td", { colspan: 5 }, "idle: no job is running"))]));
}

async function showChildren(sweepId) {
  parentFilter = sweepId;
  $("#f-kind").value = "";
  await loadJobs();
  $("#jobs").scrollIntoView({ block: "nearest" });
}

async function openModelPage(modelId) {
  await showTab("models");
  await openModel(modelId);
}

// Status, progress bar and (for a sweep) its children done, as the list and the event stream say
function progressLine(job) {
  const p = job.progress || {};
  return [el("span", { className: `status status-${job.status}` }, job.status), " ", ...progressCell(job).childNodes,
    p.jobs ? `; ${p.done} of ${p.jobs} child jobs done` : ""];
}

// What a job is and where it ran: the first lines of its page
function jobFacts(job) {
  const when = (t) => (t ? new Date(t).toLocaleString() : "");
  const model = job.model_id || (job.kind === "evaluate" ? job.spec.model_id : null);
  return el("dl", { className: "facts" },
    el("dt", {}, "what"), el("dd", {}, `${job.kind}: ${job.label || "(a spec this server no longer reads)"}`),
    el("dt", {}, "owner"), el("dd", {}, job.owner),
    ["sweep", "report"].includes(job.kind) ? "" : [el("dt", {}, "ran on"), el("dd", {}, [job.worker, job.device].filter(Boolean).join(" / ") || "not yet")],
    job.device_kind && job.device_kind !== "any" ? [el("dt", {}, "asks for"), el("dd", {}, `a ${job.device_kind} worker`)] : "",
    job.waiting_for ? [el("dt", {}, "waiting"), el("dd", { className: "error-text" }, job.waiting_for)] : "",
    el("dt", {}, "created"), el("dd", {}, when(job.created_at), job.finished_at ? `, finished ${when(job.finished_at)}` : ""),
    job.parent_id ? [el("dt", {}, "part of"), el("dd", {}, el("button", { className: "link", onclick: reportErrors(() => openJob(job.parent_id)) }, job.parent_id))] : "",
    model ? [el("dt", {}, job.kind === "train" ? "trained" : "model"),
      el("dd", {}, el("button", { className: "link", onclick: reportErrors(() => openModelPage(model)) }, model))] : "");
}

// The job's page; returns the job as it was read
async function renderResult(jobId) {
  const job = await getJSON(`/v1/jobs/${jobId}`);
  const parts = [jobFacts(job)];
  if (job.error) parts.push(el("p", { className: "error-text" }, `${job.error.code}: ${job.error.message}`));
  parts.push(el("p", { id: "detail-progress" }, progressLine(job)));
  if (job.kind === "sweep") parts.push(...sweepPage(job));
  if (job.kind === "report") parts.push(...reportPage(job));
  parts.push(el("details", {}, el("summary", {}, "spec"), el("pre", {}, JSON.stringify(job.spec, null, 2))));
  $("#detail-title").textContent = { sweep: "Sweep", report: "Report" }[job.kind] || "Job";
  $("#detail-result").replaceChildren(...parts);
  if (job.kind === "sweep") await initSweepPage(job);
  return job;
}

async function openJob(jobId) {
  if (follow) follow.abort();
  follow = new AbortController();
  const { signal } = follow;
  $("#job-detail").hidden = false;
  $("#job-detail").dataset.job = jobId;
  $("#jobs-split").classList.add("open");
  for (const row of document.querySelectorAll("#jobs tbody tr")) row.classList.toggle("opened", row.dataset.job === jobId);
  $("#detail-id").textContent = jobId;
  $("#detail-log").textContent = "";
  const { status } = await renderResult(jobId);
  const drawnFinished = ["succeeded", "failed", "cancelled"].includes(status); // its "end" event changes nothing
  if (window.innerWidth < WIDE) $("#job-detail").scrollIntoView({ block: "start" });
  // a stream that ends without "end" (the server drains or restarts) is resumed from the last log line seen
  let lastId = "";
  let retryMs = 1000;
  let ended = false;
  while (!ended && !signal.aborted) {
    try {
      const headers = lastId ? { "Last-Event-ID": lastId } : {};
      const response = await api(`/v1/jobs/${jobId}/events`, { signal, headers });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = "message";
          let data = "";
          for (const line of message.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
            else if (line.startsWith("id: ")) lastId = line.slice(4);
            else if (line.startsWith("retry: ")) retryMs = Number(line.slice(7)) || retryMs;
          }
          const payload = data ? JSON.parse(data) : {};
          if (event === "progress" && $("#detail-progress")) {
            $("#detail-progress").replaceChildren(...progressLine(payload));
          }
          if (event === "log") $("#detail-log").append(`${payload.at.slice(11, 19)} ${payload.level === "error" ? "ERROR " : ""}${payload.message}\n`);
          if (event === "end") {
            ended = true;
            if (!drawnFinished) await renderResult(jobId);
          }
        }
      }
    } catch (error) {
      if (error.name === "AbortError") return;
      if (error instanceof ApiError && !error.message.startsWith("503")) throw error;
      // the server is unreachable or saturated: try again below
    }
    if (!ended) await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}

// ---- models ----------------------------------------------------------------------------------------------------
async function sha256Hex(buffer) {
  if (!crypto.subtle) return null; // only in secure contexts (https, localhost)
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function downloadModel(model) {
  $("#download-status").textContent = `downloading ${model.name}...`;
  const response = await api(`/v1/models/${model.id}/checkpoint`);
  const expected = response.headers.get("X-Checksum-SHA256");
  const buffer = await response.arrayBuffer();
  const actual = await sha256Hex(buffer);
  if (actual !== null && actual !== expected) {
    $("#download-status").textContent = `sha256 mismatch for ${model.name}: got ${actual}, server says ${expected}`;
    return;
  }
  saveBlob(new Blob([buffer]), `${model.name}.safetensors`);
  $("#download-status").textContent = actual === null
    ? `${model.name}.safetensors saved (sha256 ${expected}; not checked here: the browser checks only over https or on localhost)`
    : `${model.name}.safetensors saved, sha256 ${actual} checked`;
}

async function loadModels() {
  const models = await getJSON("/v1/models");
  const opened = $("#model-page").hidden ? null : $("#model-page").dataset.model;
  $("#models tbody").replaceChildren(...models.map((m) => el("tr", { "data-model": m.id, className: m.id === opened ? "opened" : "" },
    el("td", {}, el("input", { type: "checkbox", className: "pick", value: m.id, "aria-label": `select ${m.name}` })),
    el("td", { title: m.id, className: "wrap" }, el("button", { className: "link", onclick: reportErrors(() => openModel(m.id)) }, m.name)),
    el("td", { title: m.setting || "", className: "wrap" }, m.setting_label || `${m.arch} ${m.dataset}`), el("td", {}, m.seed ?? ""),
    el("td", {}, m.owner), el("td", {}, m.metrics.test_acc === undefined ? "" : m.metrics.test_acc.toFixed(4)),
    el("td", { className: "secondary" }, m.origin), el("td", { className: "secondary" }, new Date(m.created_at).toLocaleString()),
    el("td", {}, el("button", { onclick: reportErrors(() => downloadModel(m)) }, "download")))));
  fillSelect($("#compare-evaluator"), evaluators.map((e) => e.name), "gaussian");
}

function headline(h) {
  if (h.error) return h.error;
  if (h.normalized_auc !== undefined) return `clean ${h.clean_accuracy.toFixed(3)}, AUC ${h.normalized_auc.toFixed(3)}`;
  const std = h.score_std === null || h.score_std === undefined ? "" : ` +- ${h.score_std.toFixed(5)}`;
  return `score ${h.score.toFixed(5)}${std} (${h.repeats} repeats, success ${h.success_rate.toFixed(2)})`;
}

async function openModel(modelId) {
  const m = await getJSON(`/v1/models/${modelId}`);
  $("#model-page").hidden = false;
  $("#model-page").dataset.model = m.id;
  $("#models-split").classList.add("open");
  for (const row of document.querySelectorAll("#models tbody tr")) row.classList.toggle("opened", row.dataset.model === m.id);
  $("#model-title").textContent = `${m.name} (${m.id})`;
  const best = m.best_epoch === null ? "" : `, kept epoch ${m.best_epoch}`;
  $("#model-summary").textContent = `${m.setting_label || m.arch} seed ${m.seed ?? "?"}, setting ${m.setting || "none"}` +
    `, clean test accuracy ${m.metrics.test_acc === undefined ? "?" : m.metrics.test_acc.toFixed(4)}${best}` +
    `${m.sweep_id ? `, sweep ${m.sweep_id}` : ""}${m.job_id ? `, job ${m.job_id}` : ""}, by ${m.owner}` +
    `${m.versions ? `, torch ${m.versions.torch}` : ""}`;
  $("#model-name").value = m.name;
  $("#model-tags").value = m.tags.join(", ");
  $("#model-notes").value = m.notes;
  for (const field of ["#model-name", "#model-tags", "#model-notes", "#model-form button"]) $(field).disabled = !canChange(m);
  const figure = $("#model-history");
  if (figure.src) URL.revokeObjectURL(figure.src);
  figure.hidden = !m.history.length;
  if (m.history.length) figure.src = URL.createObjectURL(await (await api(`/v1/models/${m.id}/history?format=png`)).blob());
  if (window.innerWidth < WIDE) $("#model-page").scrollIntoView({ block: "start" });
  $("#model-results tbody").replaceChildren(...(m.results.length ? m.results.map((r) => el("tr", {},
    el("td", {}, r.evaluator), el("td", {}, r.label), el("td", {}, r.kind), el("td", {}, headline(r.headline)),
    el("td", {}, new Date(r.created_at).toLocaleString()))) : [el("tr", {}, el("td", { colspan: 5 }, "no result yet: evaluate it (Submit)"))]));
  $("#model-spec").textContent = m.spec ? JSON.stringify(m.spec, null, 2) : "uploaded without a training spec";
}

async function saveModel(event) {
  event.preventDefault();
  const id = $("#model-page").dataset.model;
  const tags = $("#model-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  const body = { name: $("#model-name").value, tags, notes: $("#model-notes").value };
  await api(`/v1/models/${id}`, { method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  toast("saved", true);
  await loadModels();
  await openModel(id);
}

function compareQuery(format) {
  const ids = [...document.querySelectorAll("#models .pick:checked")].map((box) => box.value);
  if (!ids.length) throw new ApiError("select one or more models first");
  const params = new URLSearchParams({ evaluator: $("#compare-evaluator").value, format,
    group_by: $("#compare-group").value, plot: $("#compare-plot").value });
  for (const id of ids) params.append("model_id", id);
  return `/v1/compare?${params}`;
}

async function compare() {
  const body = await getJSON(compareQuery("json"));
  $("#compare-note").textContent = `${body.groups.length} group(s); ${body.interval}` +
    (body.missing.length ? `; without a ${body.evaluator} result: ${body.missing.length} model(s)` : "");
  const blob = await (await api(compareQuery("png"))).blob();
  const figure = $("#compare-figure");
  if (figure.src) URL.revokeObjectURL(figure.src);
  figure.src = URL.createObjectURL(blob);
  figure.hidden = false;
}

async function compareCsv() {
  saveBlob(await (await api(compareQuery("csv"))).blob(), `compare-${$("#compare-evaluator").value}.csv`);
}

// ---- submit ----------------------------------------------------------------------------------------------------
// `field`: the request field the text becomes, named in the error as a 422 would
function parseJSON(text, what, field = null) {
  try {
    return JSON.parse(text || "{}");
  } catch (error) {
    throw new ApiError(`${what} is not valid JSON: ${error.message}`, field ? { field } : null);
  }
}

async function loadSubmit() {
  const [presets, models] = await Promise.all([getJSON("/v1/presets"), getJSON("/v1/models")]);
  fillSelect($("#train-preset"), Object.keys(presets), "quick");
  const options = models.map((m) => el("option", { value: m.id }, `${m.name} (${m.owner})`));
  loadSweepForm(Object.keys(presets), options);
  $("#eval-model").replaceChildren(...options);
  $("#eval-source").replaceChildren(el("option", { value: "" }, "none"), ...options.map((o) => o.cloneNode(true)));
  if (!$("#eval-evaluators input")) {
    $("#eval-evaluators").append(...evaluators.map((e) => el("label", { title: e.description },
      el("input", { type: "checkbox", value: e.name, checked: e.name === "gaussian" }), ` ${e.name}`)));
  }
}

async function submitTrain(event) {
  event.preventDefault();
  const job = await postJSON("/v1/train-jobs", { preset: $("#train-preset").value, spec: parseJSON($("#train-spec").value, "changes") });
  toast(`queued training ${job.id}`, true);
  await showTab("jobs");
}

async function submitEval(event) {
  event.preventDefault();
  const params = parseJSON($("#eval-params").value, "parameters");
  const names = [...document.querySelectorAll("#eval-evaluators input:checked")].map((box) => box.value);
  if (!names.length) throw new ApiError("choose at least one evaluator");
  const source = $("#eval-source").value || null;
  const sourced = new Set(evaluators.filter((e) => e.sourced).map((e) => e.name));  // attack with a source model
  const body = {
    model_id: $("#eval-model").value,
    evaluators: names.map((name) => ({ name, params: params[name] || {}, source_model_id: sourced.has(name) ? source : null })),
  };
  const job = await postJSON("/v1/eval-jobs", body);
  toast(`queued evaluation ${job.id}`, true);
  await showTab("jobs");
}

// ---- datasets --------------------------------------------------------------------------------------------------
async function loadDatasets() {
  const datasets = await getJSON("/v1/datasets");
  $("#datasets tbody").replaceChildren(...datasets.map((d) => el("tr", {},
    el("td", {}, d.name), el("td", {}, d.origin), el("td", {}, d.classes),
    el("td", {}, `${d.channels} x ${d.size} x ${d.size}`), el("td", {}, d.available ? "yes" : "no"),
    el("td", { title: (d.searched || []).join("\n"), className: "long" }, d.origin === "uploaded" ? `uploaded by ${d.owner}` : (d.available ? d.location : d.how_to_provide)))));
  fillSelect($("#sim-dataset"), datasets.filter((d) => d.available).map((d) => d.name));
}

async function uploadDataset(event) {
  event.preventDefault();
  const form = new FormData();
  form.append("name", $("#upload-name").value);
  form.append("file", $("#upload-file").files[0]);
  const dataset = await (await api("/v1/datasets", { method: "POST", body: form })).json();
  toast(`uploaded ${dataset.name}: ${JSON.stringify(dataset.splits)} images`, true);
  await loadDatasets();
}

async function similarity(event) {
  event.preventDefault();
  const params = new URLSearchParams({ threshold: $("#sim-threshold").value, images: $("#sim-images").value });
  if ($("#sim-low").value) params.set("threshold_low", $("#sim-low").value);
  const s = await getJSON(`/v1/datasets/${encodeURIComponent($("#sim-dataset").value)}/similarity?${params}`);
  const fractions = Object.entries(s.selected_fraction).map(([variant, f]) => el("tr", {}, el("td", {}, variant), el("td", {}, f.toFixed(4))));
  const targets = Object.entries(s.target_fraction).map(([t, f]) => el("tr", {}, el("td", {}, `target ${t}`), el("td", {}, f.toFixed(4))));
  const low = s.threshold_low === null ? "" : `, Th2 = ${s.threshold_low}`;
  $("#similarity").replaceChildren(
    el("p", {}, `${s.dataset}: ${s.n} images, ${s.pairs} pairs${s.exact ? "" : ` (estimated from ${s.sampled})`}, Th = ${s.threshold}${low}`),
    el("div", { className: "sim-row" }, similarityFigure(s),
      el("table", { className: "sim-table" }, el("thead", {}, el("tr", {}, el("th", {}, "variant / target"), el("th", {}, "fraction of pairs"))),
        el("tbody", {}, ...fractions, ...targets))));
}

// ---- wiring ----------------------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", reportErrors(async (event) => {
    event.preventDefault();
    key = $("#key").value.trim();
    localStorage.setItem(KEY_STORAGE, key);
    await signIn();
  }));
  $("#logout").addEventListener("click", () => { localStorage.removeItem(KEY_STORAGE); key = ""; showLogin(); });
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", reportErrors(() => (me ? showTab(button.dataset.tab) : null)));
  }
  for (const id of ["#f-status", "#f-kind", "#f-mine"]) $(id).addEventListener("change", reportErrors(loadJobs));
  $("#detail-close").addEventListener("click", () => {
    if (follow) follow.abort();
    $("#job-detail").hidden = true;
    $("#jobs-split").classList.remove("open");
  });
  $("#f-parent-clear").addEventListener("click", reportErrors(() => { parentFilter = null; return loadJobs(); }));
  $("#compare").addEventListener("click", reportErrors(compare));
  $("#model-close").addEventListener("click", () => { $("#model-page").hidden = true; $("#models-split").classList.remove("open"); });
  $("#model-form").addEventListener("submit", reportErrors(saveModel));
  $("#compare-csv").addEventListener("click", reportErrors(compareCsv));
  $("#train-form").addEventListener("submit", reportErrors(submitTrain));
  $("#eval-form").addEventListener("submit", reportErrors(submitEval));
  $("#sweep-form").addEventListener("submit", reportErrors(submitSweep));
  $("#upload-form").addEventListener("submit", reportErrors(uploadDataset));
  $("#similarity-form").addEventListener("submit", reportErrors(similarity));
  setInterval(() => {
    if (me && showTab.current === "jobs" && $("#f-auto").checked && !document.hidden) reportErrors(loadJobs)();
  }, 2000);
  if (key) reportErrors(signIn)();
  else showLogin();
});
