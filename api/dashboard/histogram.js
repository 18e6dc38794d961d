// The pixel-similarity histogram of GET /v1/datasets/{name}/similarity as an inline SVG: the fraction of pairs per
// bin of S over [-1, 1], with axes, tick labels and titles, the thresholds +-Th (and +-Th2 of the "double" variant)
// as vertical marks, and a legend. Every text is an SVG <text> node (textContent), never parsed markup.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

// About `count` round tick values (1, 2 or 5 times a power of ten) from 0 to at least `top`
function niceTicks(top, count = 5) {
  const raw = top / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v <= top + step * 1e-9; v += step) ticks.push(v);
  if (ticks[ticks.length - 1] < top) ticks.push(ticks[ticks.length - 1] + step);
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  return { ticks, label: (v) => v.toFixed(decimals) };
}

const HIST = { width: 720, height: 340, left: 62, right: 22, top: 72, bottom: 48 };

function similarityFigure(s) {
  const { width, height, left, right, top, bottom } = HIST;
  const total = s.counts.reduce((a, b) => a + b, 0) || 1;
  const fractions = s.counts.map((c) => c / total);
  const y = niceTicks(Math.max(...fractions, 1e-6));
  const yMax = y.ticks[y.ticks.length - 1];
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const px = (v) => left + ((v + 1) / 2) * plotW; // S in [-1, 1]
  const py = (f) => top + plotH - (f / yMax) * plotH;
  const figure = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "sim-figure", role: "img",
    "aria-label": `histogram of the pixel similarity S of ${s.dataset}, with the thresholds marked` });

  for (const v of y.ticks) { // horizontal grid lines and y tick labels
    figure.append(svg("line", { x1: left, x2: left + plotW, y1: py(v), y2: py(v), class: "grid" }),
      svg("line", { x1: left - 4, x2: left, y1: py(v), y2: py(v), class: "axis" }),
      svg("text", { x: left - 7, y: py(v) + 4, "text-anchor": "end", class: "tick y-tick" }, y.label(v)));
  }
  const th = s.threshold;
  const bins = svg("g", { class: "bins" });
  fractions.forEach((f, i) => {
    const [lo, hi] = [s.bin_edges[i], s.bin_edges[i + 1]];
    const centre = (lo + hi) / 2;
    const bar = svg("rect", { x: px(lo) + 0.5, width: Math.max(px(hi) - px(lo) - 1, 0.5), y: py(f),
      height: Math.max(py(0) - py(f), 0), class: `bin${Math.abs(centre) > th ? " beyond" : ""}` });
    bar.append(svg("title", {}, `S in [${lo}, ${hi}): ${s.counts[i]} pairs (${(100 * f).toFixed(2)}%)`));
    bins.append(bar);
  });
  figure.append(bins);
  for (let v = -1; v <= 1.0001; v += 0.25) { // x ticks every 0.25
    const x = px(v);
    figure.append(svg("line", { x1: x, x2: x, y1: py(0), y2: py(0) + 4, class: "axis" }),
      svg("text", { x, y: py(0) + 17, "text-anchor": "middle", class: "tick x-tick" }, String(Math.round(v * 100) / 100)));
  }
  figure.append(svg("line", { x1: left, x2: left + plotW, y1: py(0), y2: py(0), class: "axis" }),
    svg("line", { x1: left, x2: left, y1: top, y2: py(0), class: "axis" }),
    svg("text", { x: left + plotW / 2, y: height - 8, "text-anchor": "middle", class: "axis-title" },
      "pixel similarity S of a pair of images"),
    svg("text", { x: 14, y: top + plotH / 2, "text-anchor": "middle", class: "axis-title",
      transform: `rotate(-90 14 ${top + plotH / 2})` }, "fraction of pairs"));

  const marks = [{ at: th, name: "Th", cls: "th" }];
  if (s.threshold_low !== null && s.threshold_low !== undefined) marks.push({ at: s.threshold_low, name: "Th2", cls: "th-low" });
  // each label beside its line, away from 0; Th2's a row above Th's: close thresholds never write over each other
  const lines = svg("g", { class: "marks" });
  marks.forEach((mark, row) => {
    for (const sign of [1, -1]) {
      const x = px(sign * mark.at);
      lines.append(svg("line", { x1: x, x2: x, y1: top - 16 - 14 * row, y2: py(0), class: `mark ${mark.cls}` }),
        svg("text", { x: x + 3 * sign, y: top - 6 - 16 * row, "text-anchor": sign > 0 ? "start" : "end",
          class: `mark-label ${mark.cls}` }, `${sign > 0 ? "+" : "\u2212"}${mark.name}`));
    }
  });
  figure.append(lines, legend(s, marks));
  return figure;
}

function legend(s, marks) {
  const entries = [
    { swatch: "bin", text: "pairs with target 0 (|S| \u2264 Th)" },
    { swatch: "bin beyond", text: "pairs with target \u00b11 (|S| > Th)" },
    ...marks.map((m) => ({ line: `mark ${m.cls}`,
      text: m.cls === "th" ? `\u00b1Th = \u00b1${m.at}` : `\u00b1Th2 = \u00b1${m.at} (double: |S| < Th2 trained, target 0)` })),
  ];
  const group = svg("g", { class: "legend" });
  let x = HIST.left;
  let row = 0;
  for (const entry of entries) {
    const width = 26 + entry.text.length * 6.2;
    if (x + width > HIST.width - HIST.right) { x = HIST.left; row += 1; }
    const y = 10 + row * 16;
    group.append(entry.swatch ? svg("rect", { x, y, width: 14, height: 10, class: entry.swatch })
      : svg("line", { x1: x, x2: x + 14, y1: y + 5, y2: y + 5, class: entry.line }));
    group.append(svg("text", { x: x + 19, y: y + 9, class: "legend-text" }, entry.text));
    x += width + 12;
  }
  return group;
}
