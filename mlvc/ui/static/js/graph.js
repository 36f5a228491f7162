"use strict";
// The lineage view: `mlvc graph [TARGET] --format json` drawn left to right (upstream to
// downstream) by cytoscape with the dagre layout; stale runs marked once `status` answers.
(function (m) {
  const { el } = m;

  const STYLE = [
    { selector: "node", style: {
      label: "data(label)", "text-wrap": "wrap", "text-valign": "center", "font-size": 10,
      "font-family": "monospace", width: "data(w)", height: "data(h)",
      shape: "round-rectangle", "background-color": "#dbe8f7", "border-width": 1,
      "border-color": "#5b7fa8" } },
    { selector: "node[type = 'snapshot']", style: { shape: "barrel", "background-color": "#d8f0d8",
      "border-color": "#4f8a4f" } },
    { selector: "node[type = 'missing']", style: { "border-style": "dashed",
      "background-color": "#f7e0e0" } },
    { selector: "node[type = 'data']", style: { shape: "rectangle", "background-color": "#f4f4f4",
      "border-color": "#999" } },
    { selector: "node[type = 'external']", style: { shape: "rectangle", "border-style": "dashed",
      "background-color": "#fff" } },
    { selector: "node.stale", style: { "border-color": "#d08000", "border-width": 3 } },
    { selector: "node.root", style: { "border-width": 3 } },
    { selector: "node:selected", style: { "border-color": "#c00", "border-width": 3 } },
    { selector: "edge", style: { width: 1.2, "curve-style": "bezier", "line-color": "#999",
      "target-arrow-shape": "triangle", "target-arrow-color": "#999" } },
  ];

  function elements(graph) {
    const nodes = graph.nodes.map((n) => {
      const lines = String(n.label).split("\n");
      const w = Math.max(...lines.map((l) => l.length)) * 6.2 + 16;
      return { group: "nodes", data: { id: n.id, type: n.type, label: n.label, ref: n.ref,
        path: n.path, w, h: lines.length * 13 + 10 } };
    });
    const edges = graph.edges.map((e, i) => ({ group: "edges", data: {
      id: "e" + i, source: e.source, target: e.target } }));
    return nodes.concat(edges);
  }

  function details(node) {
    const d = node.data();
    if (d.type === "data" || d.type === "external") {
      const versions = d.path ? el("a", { href: m.hashHref("path", { p: d.path }) }, "versions") : null;
      const upstream = d.path && d.type === "data"
        ? el("a", { href: m.hashHref("graph", { target: d.path }) }, "lineage of its latest version")
        : null;
      return [el("h2", {}, d.type === "data" ? "data" : "external data"),
        el("p", { class: "mono" }, d.path || ""), el("p", { class: "mono" }, d.ref),
        el("p", {}, versions, " ", upstream)];
    }
    return [el("h2", {}, d.type), el("p", { class: "mono" }, d.label),
      el("p", {}, m.runLink(d.ref, "open run " + m.short(d.ref)), " · ",
        el("a", { href: m.hashHref("graph", { target: d.ref }) }, "upstream of this run"))];
  }

  async function markStale(cy, box) {
    try {
      const status = await m.api("status", {});
      const stale = new Set(status.stale.map((s) => s.run));
      cy.nodes().forEach((n) => { if (stale.has(n.data("ref"))) n.addClass("stale"); });
      box.setAttribute("data-stale", String(stale.size));
    } catch (error) {
      box.setAttribute("data-stale", "unknown");
    }
  }

  function targetForm(target) {
    const input = el("input", { type: "text", name: "target", value: target || "",
      placeholder: "run id, tag or path (empty: everything)", size: 40 });
    const go = () => { location.hash = input.value.trim()
      ? m.hashHref("graph", { target: input.value.trim() }) : "#/graph"; };
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
    return el("div", { class: "toolbar" }, input, el("button", { onclick: go }, "show"),
      el("span", { class: "legend" }, "runs · ", el("span", { class: "snapshot" }, "snapshots"),
        " · data · ", el("span", { class: "stale" }, "stale (status)")));
  }

  // The whole history is drawn only while it is small: past WHOLE runs, the page opens on
  // the upstream of the newest run (dagre on thousands of nodes would take minutes).
  const WHOLE = 50;

  async function defaultTarget() {
    const page = await m.api("log", { all: 1, limit: WHOLE, offset: 0 });
    return page.runs.length < WHOLE ? "" : page.runs[0].id;
  }

  m.views.graph = async function (params) {
    const started = performance.now();
    let target = params.get("target") || "";
    let note = null;
    if (!target) {
      try {
        target = await defaultTarget();
      } catch (error) {
        m.setMain(m.failure(error));
        return;
      }
      if (target) note = el("p", { class: "dim", id: "graph-note" }, "more than " + WHOLE
        + " runs: the lineage of the newest one; give a run, tag or path above for another");
    }
    const box = el("div", { id: "graph", "data-ready": "0" });
    const side = el("aside", { id: "details" }, el("p", { class: "dim" }, "click a node"));
    m.setMain(targetForm(params.get("target") || ""), note, el("div", { class: "split" }, box, side));
    let graph;
    try {
      graph = await m.api("graph", target ? { target } : {});
    } catch (error) {
      box.replaceWith(m.failure(error));
      return;
    }
    if (!graph.nodes.length) {
      box.replaceWith(el("p", {}, "no runs recorded yet (mlvc run -- CMD records one)"));
      return;
    }
    const cy = cytoscape({ container: box, elements: elements(graph), style: STYLE,
      layout: { name: "dagre", rankDir: "LR", nodeSep: 10, rankSep: 28 },
      minZoom: 0.05, maxZoom: 4 });
    const roots = new Set(graph.roots);
    cy.nodes().forEach((n) => { if (target && roots.has(n.data("ref"))) n.addClass("root"); });
    cy.on("tap", "node", (event) => side.replaceChildren(...details(event.target)));
    window.mlvcGraph = cy;
    box.setAttribute("data-nodes", String(cy.nodes().length));
    box.setAttribute("data-edges", String(cy.edges().length));
    box.setAttribute("data-render-ms", String(Math.round(performance.now() - started)));
    box.setAttribute("data-ready", "1");
    markStale(cy, box);
  };
})(window.mlvc);
