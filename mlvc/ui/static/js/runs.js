"use strict";
// The runs table: one page of `mlvc log --json` (limit/offset), each run's params from
// `mlvc show --json`; filter by step and text, sort by any column, pick runs to compare.
(function (m) {
  const { el } = m;
  const PAGE = 50;

  function flat(prefix, value, into) {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) flat(prefix ? prefix + "." + k : k, v, into);
    } else {
      into[prefix] = value;
    }
    return into;
  }

  function differing(rows) {
    const keys = new Set(rows.flatMap((r) => Object.keys(r.params)));
    return [...keys].sort().filter((k) =>
      new Set(rows.map((r) => m.plainValue(r.params[k]))).size > 1);
  }

  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    if (a === undefined) return 1;
    if (b === undefined) return -1;
    return String(a).localeCompare(String(b));
  }

  function render(state) {
    const text = state.filter.toLowerCase();
    let rows = state.rows.filter((r) => (!state.step || r.step === state.step)
      && (!text || r.search.includes(text)));
    const params = differing(rows);
    const metrics = [...new Set(rows.flatMap((r) => Object.keys(r.run.metrics)))].sort();
    const columns = [["run", (r) => r.run.id], ["step", (r) => r.step], ["started", (r) => r.run.started],
      ["status", (r) => r.run.status], ["owner", (r) => r.run.owner], ["message", (r) => r.run.message]]
      .concat(params.map((k) => ["param " + k, (r) => r.params[k]]))
      .concat(metrics.map((k) => ["metric " + k, (r) => r.run.metrics[k]]));
    if (state.sort) {
      const get = (columns.find((c) => c[0] === state.sort) || columns[2])[1];
      rows = rows.slice().sort((a, b) => state.desc * compare(get(a), get(b)));
    }
    const head = el("tr", {}, el("th", {}, ""), columns.map(([name]) => el("th", {
      class: "sortable" + (state.sort === name ? " sorted" : ""), "data-column": name,
      onclick: () => { state.desc = state.sort === name ? -state.desc : 1; state.sort = name; render(state); },
    }, name + (state.sort === name ? (state.desc > 0 ? " ▲" : " ▼") : ""))));
    const body = rows.map((r) => el("tr", { "data-run": r.run.id }, el("td", {}, el("input", {
      type: "checkbox", "data-pick": r.run.id, checked: state.picked.has(r.run.id),
      onchange: (e) => { e.target.checked ? state.picked.add(r.run.id) : state.picked.delete(r.run.id); actions(state); },
    })), columns.map(([name, get]) => el("td", { class: name === "message" ? "message" : null },
      name === "run" ? m.runLink(r.run.id) : name === "started" ? m.when(get(r)) : m.plainValue(get(r) === undefined ? "" : get(r))))));
    state.table.replaceChildren(el("thead", {}, head), el("tbody", {}, body));
    state.table.setAttribute("data-rows", String(rows.length));
  }

  function actions(state) {
    const picked = state.rows.filter((r) => state.picked.has(r.run.id))
      .sort((a, b) => compare(a.run.started, b.run.started)).map((r) => r.run.id);
    state.diff.disabled = picked.length !== 2;
    state.plot.disabled = picked.length < 1;
    state.diff.onclick = () => { location.hash = m.hashHref("diff", { a: picked[0], b: picked[1] }); };
    state.plot.onclick = () => { location.hash = m.hashHref("plot", { runs: picked.join(",") }); };
  }

  function controls(state, offset, all) {
    const steps = [...new Set(state.rows.map((r) => r.step))].sort();
    const select = el("select", { name: "step", onchange: (e) => { state.step = e.target.value; render(state); } },
      el("option", { value: "" }, "all steps"), steps.map((s) => el("option", { value: s }, s)));
    const filter = el("input", { type: "search", name: "filter", placeholder: "filter",
      oninput: (e) => { state.filter = e.target.value; render(state); } });
    const failed = el("label", {}, el("input", { type: "checkbox", checked: all, onchange: (e) => {
      location.hash = m.hashHref("runs", { offset: 0, all: e.target.checked ? 1 : 0 }); } }), " failed runs too");
    const page = (to) => m.hashHref("runs", { offset: Math.max(0, to), all: all ? 1 : 0 });
    return el("div", { class: "toolbar" }, select, filter, failed, state.diff, state.plot,
      el("span", { class: "pager" }, offset > 0 ? el("a", { href: page(offset - PAGE) }, "← newer") : null,
        " runs " + (offset + 1) + "–" + (offset + state.rows.length) + " ",
        state.rows.length === PAGE ? el("a", { href: page(offset + PAGE), "data-next": "1" }, "older →") : null));
  }

  async function load(summary) {
    let params = {};
    try {
      params = flat("", (await m.api("show", { ref: summary.id })).params || {}, {});
    } catch (error) { /* a run that cannot be shown keeps its row, without params */ }
    const step = m.commandText(summary.command);
    const search = [summary.id, step, summary.message, summary.owner, JSON.stringify(params)]
      .join(" ").toLowerCase();
    return { run: summary, params, step, search };
  }

  m.views.runs = async function (params) {
    const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
    const all = params.get("all") === "1";
    m.setMain(el("p", { class: "dim" }, "loading…"));
    let page;
    try {
      page = await m.api("log", Object.assign({ limit: PAGE, offset }, all ? { all: 1 } : {}));
    } catch (error) {
      m.setMain(m.failure(error));
      return;
    }
    const state = { rows: await Promise.all(page.runs.map(load)), step: "", filter: "", sort: "",
      desc: 1, picked: new Set(), table: el("table", { id: "runs", "data-rows": "0" }),
      diff: el("button", { id: "diff-picked", disabled: true }, "diff 2 picked"),
      plot: el("button", { id: "plot-picked", disabled: true }, "plot metrics of picked") };
    m.setMain(el("h1", {}, "runs"), controls(state, offset, all), state.table);
    render(state);
    actions(state);
  };
})(window.mlvc);
