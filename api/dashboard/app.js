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

class ApiError extends Error {}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${key}` };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    showLogin("That API key is unknown or revoked.");
    throw new ApiError("unauthorized");
  }
  if (!response.ok) {
    let message = response.statusText;
    try {
      const body = await response.json();
      message = body.error.message;
    } catch (_) { /* not an error body */ }
    throw new ApiError(`${response.status}: ${message}`);
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
  return el("td", {}, bar, " ", parts.join(" "));
}

async function loadJobs() {
  const params = new URLSearchParams({ page_size: "100" });
  if ($("#f-status").value) params.set("status", $("#f-status").value);
  if ($("#f-kind").value) params.set("kind", $("#f-kind").value);
  if ($("#f-mine").checked) params.set("owner", me.name);
  const [page, running] = await Promise.all([
    getJSON(`/v1/jobs?${params}`), getJSON("/v1/jobs?status=running&page_size=200"),
  ]);
  const rows = page.items.map((job) => el("tr", { "data-job": job.id },
    el("td", { className: "id", title: job.id }, short(job.id)),
    el("td", {}, job.kind, job.parent_id ? ` (of ${short(job.parent_id)})` : ""),
    el("td", {}, el("span", { className: `status status-${job.status}` }, job.status),
      job.error ? ` ${job.error.message || ""}`.slice(0, 80) : ""),
    el("td", {}, job.owner),
    progressCell(job),
    el("td", {}, [job.worker, job.device].filter(Boolean).join(" / ")),
    el("td", {}, new Date(job.created_at).toLocaleString()),
    el("td", {},
      el("button", { onclick: reportErrors(() => openJob(job.id)) }, "details"),
      canChange(job) && ["queued", "running"].includes(job.status) && !job.cancel_requested
        ? el("button", { onclick: reportErrors(async () => { await api(`/v1/jobs/${job.id}/cancel`, { method: "POST" }); await loadJobs(); }) }, "cancel") : "",
      canChange(job) && ["failed", "cancelled"].includes(job.status)
        ? el("button", { onclick: reportErrors(async () => { const again = await postJSON(`/v1/jobs/${job.id}/retry`, {}); toast(`queued ${again.id}`, true); await loadJobs(); }) }, "retry") : ""),
  ));
  $("#jobs tbody").replaceChildren(...rows);
  const gpus = running.items.filter((job) => job.kind !== "sweep").map((job) => el("tr", {},
    el("td", {}, job.worker || "?"), el("td", {}, job.device || "?"), el("td", {}, job.owner),
    el("td", { className: "id", title: job.id }, `${job.kind} ${short(job.id)}`), progressCell(job)));
  const onGpu = running.items.some((job) => (job.device || "").startsWith("cuda"));
  $("#gpus-title").textContent = onGpu ? "GPUs in use" : "Workers in use";
  $("#gpus tbody").replaceChildren(...(gpus.length ? gpus : [el("tr", {}, el("td", { colspan: 5 }, "idle: no job is running"))]));
}

function sweepTable(result) {
  const rows = [result.baseline, ...result.settings].map((row) => el("tr",
    { className: result.selected && JSON.stringify(row.values) === JSON.stringify(result.selected.values) ? "selected-row" : "" },
    el("td", {}, Object.keys(row.values).length ? JSON.stringify(row.values) : "baseline (alpha 0)"),
    el("td", {}, row.models.length), el("td", {}, row.r0.toFixed(4)), el("td", {}, row.r0_u0.toFixed(3)),
    el("td", {}, row.auc.toFixed(4)), el("td", {}, row.eligible ? "yes" : "no")));
  return el("div", {},
    el("p", {}, `U0 = ${result.u0.toFixed(4)}; selected: `,
      result.selected ? JSON.stringify(result.selected.values) : `none keeps R0/U0 >= ${result.min_r0_u0}`,
      result.source_model ? `; transfer_fgsm's source model: ${result.source_model}` : ""),
    el("table", {}, el("thead", {}, el("tr", {}, ...["setting", "models", "R0", "R0/U0", `AUC ${result.select_by}`, "eligible"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows)));
}

async function renderResult(jobId) {
  const job = await getJSON(`/v1/jobs/${jobId}`);
  const parts = [el("p", {}, `${job.kind}, ${job.status}`, job.model_id ? `, model ${job.model_id}` : "",
    job.error ? `: ${job.error.message}` : "")];
  if (job.result) parts.push(sweepTable(job.result));
  $("#detail-result").replaceChildren(...parts);
}

async function openJob(jobId) {
  if (follow) follow.abort();
  follow = new AbortController();
  const { signal } = follow;
  $("#job-detail").hidden = false;
  $("#detail-id").textContent = jobId;
  $("#detail-log").textContent = "";
  await renderResult(jobId);
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
          if (event === "log") $("#detail-log").append(`${payload.at.slice(11, 19)} ${payload.level === "error" ? "ERROR " : ""}${payload.message}\n`);
          if (event === "end") {
            ended = true;
            await renderResult(jobId);
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
  $("#models tbody").replaceChildren(...models.map((m) => el("tr", {},
    el("td", {}, el("input", { type: "checkbox", className: "pick", value: m.id, "aria-label": `select ${m.name}` })),
    el("td", { title: m.id }, el("button", { className: "link", onclick: reportErrors(() => openModel(m.id)) }, m.name)),
    el("td", { title: m.setting || "" }, m.setting_label || `${m.arch} ${m.dataset}`), el("td", {}, m.seed ?? ""),
    el("td", {}, m.owner), el("td", {}, m.metrics.test_acc === undefined ? "" : m.metrics.test_acc.toFixed(4)),
    el("td", {}, m.origin), el("td", {}, new Date(m.created_at).toLocaleString()),
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
function parseJSON(text, what) {
  try {
    return JSON.parse(text || "{}");
  } catch (error) {
    throw new ApiError(`${what} is not valid JSON: ${error.message}`);
  }
}

async function loadSubmit() {
  const [presets, models] = await Promise.all([getJSON("/v1/presets"), getJSON("/v1/models")]);
  fillSelect($("#train-preset"), Object.keys(presets), "quick");
  const options = models.map((m) => el("option", { value: m.id }, `${m.name} (${m.owner})`));
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
    el("td", { title: (d.searched || []).join("\n") }, d.origin === "uploaded" ? `uploaded by ${d.owner}` : (d.available ? d.location : d.how_to_provide)))));
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
  const s = await getJSON(`/v1/datasets/${encodeURIComponent($("#sim-dataset").value)}/similarity?${params}`);
  const peak = Math.max(...s.counts, 1);
  const bars = s.counts.map((count, i) => el("span", {
    style: `height: ${(100 * count / peak).toFixed(1)}%`, title: `S in [${s.bin_edges[i]}, ${s.bin_edges[i + 1]}): ${count} pairs`,
  }));
  const fractions = Object.entries(s.selected_fraction).map(([variant, f]) => el("tr", {}, el("td", {}, variant), el("td", {}, f.toFixed(4))));
  const targets = Object.entries(s.target_fraction).map(([t, f]) => el("tr", {}, el("td", {}, `target ${t}`), el("td", {}, f.toFixed(4))));
  $("#similarity").replaceChildren(
    el("p", {}, `${s.dataset}: ${s.n} images, ${s.pairs} pairs${s.exact ? "" : ` (estimated from ${s.sampled})`}, Th = ${s.threshold}`),
    el("div", { className: "hist", role: "img", "aria-label": "histogram of S over [-1, 1]" }, ...bars),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "variant / target"), el("th", {}, "fraction of pairs"))),
      el("tbody", {}, ...fractions, ...targets)));
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
  $("#detail-close").addEventListener("click", () => { if (follow) follow.abort(); $("#job-detail").hidden = true; });
  $("#compare").addEventListener("click", reportErrors(compare));
  $("#model-close").addEventListener("click", () => { $("#model-page").hidden = true; });
  $("#model-form").addEventListener("submit", reportErrors(saveModel));
  $("#compare-csv").addEventListener("click", reportErrors(compareCsv));
  $("#train-form").addEventListener("submit", reportErrors(submitTrain));
  $("#eval-form").addEventListener("submit", reportErrors(submitEval));
  $("#upload-form").addEventListener("submit", reportErrors(uploadDataset));
  $("#similarity-form").addEventListener("submit", reportErrors(similarity));
  setInterval(() => {
    if (me && showTab.current === "jobs" && $("#f-auto").checked && !document.hidden) reportErrors(loadJobs)();
  }, 2000);
  if (key) reportErrors(signIn)();
  else showLogin();
});
