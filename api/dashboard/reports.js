"use strict";
// A report job's page: what the report concluded, claim by claim (from the job's result), and the full report
// (its self-contained HTML page, fetched with the API key, shown in a sandboxed frame, downloadable).

const num = (v, digits = 3) => (v === null || v === undefined ? "-" : Number(v).toPrecision(digits));

function interval(i) {
  if (!i) return "-";
  return i.low === null ? `${num(i.mean)} (n = ${i.n})` : `${num(i.mean)} [${num(i.low)}, ${num(i.high)}] (n = ${i.n})`;
}

function verdictTable(report) {
  const rows = report.claims.map((c) => {
    const e = c.evidence;
    const means = e ? `baseline ${interval(e.baseline)}; S^Th ${interval(e.sth)}` : c.reason;
    const p = e && e.p_value !== null ? `, p = ${num(e.p_value, 2)}` : "";
    return el("tr", { "data-claim": c.id },
      el("td", { title: `${c.metric}. ${means}` }, c.statement),
      el("td", { title: means }, e ? `${e.effect_is}: ${interval(e.effect)}${p}` : "-"),
      el("td", { className: `verdict verdict-${c.verdict.replaceAll(" ", "-")}`, title: c.reason }, c.verdict));
  });
  return el("table", { id: "report-claims" },
    el("thead", {}, el("tr", {}, ...["claim (the paper)", "effect, 95% t interval over seeds", "verdict"]
      .map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows));
}

async function reportPageBlob(jobId) {
  return new Blob([await (await api(`/v1/reports/${jobId}/html`)).arrayBuffer()], { type: "text/html" });
}

async function showReportPage(jobId) {
  const frame = $("#report-frame");
  frame.srcdoc = await (await reportPageBlob(jobId)).text(); // sandboxed (no scripts, no same origin)
  frame.hidden = false;
}

async function downloadReport(jobId) {
  const link = el("a", { href: URL.createObjectURL(await reportPageBlob(jobId)), download: `report-${short(jobId)}.html` });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

function reportPage(job) {
  const parts = [el("p", {}, el("button", { onclick: reportErrors(() => showChildren(job.id)) }, "list its trainings and evaluations"))];
  if (!job.result) {
    parts.push(el("p", {}, "The report is written when every training and evaluation has ended."));
    return parts;
  }
  const summary = Object.entries(job.result.summary).filter(([, n]) => n).map(([v, n]) => `${n} ${v}`).join(", ");
  parts.push(
    el("p", { id: "report-summary" }, el("strong", {}, summary), ` over seeds ${job.result.seeds.join(", ")}; `, job.result.test),
    verdictTable(job.result),
    el("p", {},
      el("button", { id: "report-open", onclick: reportErrors(() => showReportPage(job.id)) }, "show the full report"), " ",
      el("button", { onclick: reportErrors(() => downloadReport(job.id)) }, "download (HTML)")),
    el("iframe", { id: "report-frame", sandbox: "", title: "the full report", hidden: true }));
  return parts;
}
