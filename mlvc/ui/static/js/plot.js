"use strict";
// Metrics across runs: each series key as lines (one per run, by step), each scalar
// metric as a line across the picked runs in time order. Drawn by uPlot.
(function (m) {
  const { el } = m;
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

  // lines: [{label, points: [[x, y], ...]}]; x values merged, gaps where a run has none.
  m.lineChart = function (holder, title, lines, xLabel) {
    const xs = [...new Set(lines.flatMap((l) => l.points.map((p) => p[0])).filter((x) => typeof x === "number"))]
      .sort((a, b) => a - b);
    const data = [xs].concat(lines.map((l) => {
      const at = new Map(l.points.map((p) => [p[0], typeof p[1] === "number" ? p[1] : null]));
      return xs.map((x) => (at.has(x) ? at.get(x) : null));
    }));
    const width = Math.max(320, Math.min(720, holder.parentElement ? holder.parentElement.clientWidth - 20 : 480));
    const options = { title, width, height: 240, scales: { x: { time: false } },
      axes: [{ label: xLabel || "step" }, {}],
      series: [{ label: xLabel || "step" }].concat(lines.map((l, i) => ({
        label: l.label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true,
        points: { show: xs.length < 30 } }))) };
    holder.setAttribute("data-points", String(xs.length));
    return new uPlot(options, data, holder);
  };

  m.views.plot = async function (params) {
    const ids = (params.get("runs") || "").split(",").filter((id) => m.HEX.test(id));
    m.setMain(el("p", { class: "dim" }, "loading…"));
    let runs;
    try {
      runs = await Promise.all(ids.map((ref) => m.api("show", { ref })));
    } catch (error) {
      m.setMain(m.failure(error));
      return;
    }
    runs.sort((a, b) => String(a.started).localeCompare(String(b.started)));
    const box = el("div", { class: "charts" });
    m.setMain(el("h1", {}, "metrics of " + runs.length + " runs"),
      el("p", {}, runs.map((r, i) => [i ? " · " : "", m.runLink(r.id, "#" + (i + 1) + " " + m.short(r.id))])), box);
    const seriesKeys = [...new Set(runs.flatMap((r) => Object.keys((r.logs || {}).metric_series || {})))].sort();
    for (const key of seriesKeys) {
      const holder = el("div", { class: "chart", "data-series": key });
      box.appendChild(holder);
      const lines = await Promise.all(runs.filter((r) => r.logs.metric_series && r.logs.metric_series[key])
        .map(async (r) => ({ label: m.short(r.id), points: await m.api("series", { id: r.logs.metric_series[key] }) })));
      m.lineChart(holder, key, lines);
    }
    const scalars = [...new Set(runs.flatMap((r) => Object.keys(r.metrics || {})
      .filter((k) => typeof r.metrics[k] === "number")))].sort().filter((k) => !seriesKeys.includes(k));
    for (const key of scalars) {
      const holder = el("div", { class: "chart", "data-metric": key });
      box.appendChild(holder);
      const points = runs.map((r, i) => [i + 1, r.metrics[key]]);
      m.lineChart(holder, key, [{ label: key, points }], "run #");
    }
  };
})(window.mlvc);
