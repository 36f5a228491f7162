"use strict";
// The run page (`mlvc show RUN --json`) and a path's versions (`mlvc log PATH --json`).
(function (m) {
  const { el } = m;

  function head(run) {
    const owner = run.owner || {};
    const git = owner.git_name ? " (git: " + owner.git_name + " <" + (owner.git_email || "") + ">)" : "";
    const exit = run.exit_code === null || run.exit_code === undefined ? "" : " (exit " + run.exit_code + ")";
    const rows = [
      ["status", el("span", { class: "status-" + run.status }, run.status + exit)],
      ["command", el("code", {}, m.commandText(run.command))],
      ["in", run.cwd || "."],
      ["time", m.when(run.started) + " → " + m.when(run.ended)],
      ["owner", (owner.user || "?") + "@" + (owner.host || "?") + git],
    ];
    if (run.message) rows.push(["message", el("span", { class: "message" }, run.message)]);
    if (run.tags && run.tags.length) rows.push(["tags", run.tags.join(", ")]);
    return el("div", { class: "head" },
      el("h1", {}, run.kind + " ", el("span", { class: "mono" }, run.id)),
      el("p", {}, el("a", { href: m.hashHref("graph", { target: run.id }) }, "lineage graph"), " · ",
        el("a", { href: m.hashHref("diff", { a: run.id }) }, "diff with the run it superseded")),
      m.table(["", ""], rows, { class: "facts" }));
  }

  function records(title, recs, producer) {
    const paths = Object.keys(recs || {}).sort();
    if (!paths.length) return null;
    const rows = paths.map((p) => {
      const r = recs[p];
      const row = [el("a", { href: m.hashHref("path", { p }) }, p), r.kind, m.short(r.id), m.size(r.size)];
      if (producer) row.push(r.producer_run ? m.runLink(r.producer_run) : "-");
      return row;
    });
    const headers = ["path", "kind", "id", "size"].concat(producer ? ["produced by"] : []);
    return m.section(title, m.table(headers, rows, { "data-table": title }));
  }

  // A stored text (log, patch) loaded only when its section is opened.
  function lazyText(title, id, bytes) {
    if (typeof id !== "string") return null;
    const pre = el("pre", { class: "log", "data-log": title });
    const box = el("details", { "data-lazy": title },
      el("summary", {}, title + (typeof bytes === "number" ? " (" + m.size(bytes) + ")" : "")), pre);
    box.addEventListener("toggle", async () => {
      if (!box.open || box.dataset.loaded) return;
      box.dataset.loaded = "1";
      try {
        const answer = await m.api("text", { id });
        pre.textContent = answer.text + (answer.truncated ? "\n… (first " + m.size(answer.limit) + " shown)" : "");
      } catch (error) {
        pre.replaceWith(m.failure(error));
      }
      pre.setAttribute("data-loaded", "1");
    });
    return box;
  }

  function code(run) {
    const c = run.code || {};
    if (!c.git) return m.section("code", el("p", {}, "not in a git repository"));
    const rows = [["commit", c.commit || "(no commit)"], ["branch", c.branch || "detached"],
      ["state", c.dirty ? "dirty (uncommitted changes, stored as a patch)" : "clean"]];
    const scripts = Object.keys(c.scripts || {}).sort().map((p) => [p, m.short(c.scripts[p])]);
    return m.section("code", m.table(["", ""], rows, { class: "facts" }),
      scripts.length ? m.table(["script", "content"], scripts) : null,
      lazyText("patch", c.patch));
  }

  function environment(run) {
    const env = run.environment || {};
    const py = env.python || {};
    const modules = Object.keys(env.modules || {}).sort();
    return m.section("environment",
      el("p", {}, "python " + (py.version || "-") + " · " + modules.length + " modules imported from "
        + (env.distribution_count || 0) + " installed distributions"),
      modules.length ? el("details", {}, el("summary", {}, "imported packages"),
        m.table(["module", "distribution"], modules.map((k) => [k, m.plainValue(env.modules[k])]))) : null);
  }

  function charts(run) {
    const series = (run.logs || {}).metric_series || {};
    const keys = Object.keys(series).sort();
    if (!keys.length) return null;
    const box = el("div", { class: "charts" });
    keys.forEach(async (key) => {
      const holder = el("div", { class: "chart", "data-series": key });
      box.appendChild(holder);
      try {
        const points = await m.api("series", { id: series[key] });
        m.lineChart(holder, key, [{ label: m.short(run.id), points }]);
      } catch (error) {
        holder.appendChild(m.failure(error));
      }
    });
    return m.section("metric series", box);
  }

  m.views.run = async function (params, rest) {
    m.setMain(el("p", { class: "dim" }, "loading…"));
    let run;
    try {
      run = await m.api("show", { ref: rest });
    } catch (error) {
      m.setMain(m.failure(error));
      return;
    }
    const logs = run.logs || {};
    m.setMain(el("div", { class: "run", "data-run-page": run.id }, head(run),
      records("inputs", run.inputs, true), records("outputs", run.outputs, false),
      run.removed && run.removed.length ? m.section("removed", el("p", {}, run.removed.join(", "))) : null,
      m.pairs("params", run.params), m.pairs("metrics", run.metrics), charts(run),
      run.kind === "snapshot" ? null : code(run),
      run.kind === "snapshot" ? null : environment(run),
      m.pairs("resources", run.resources),
      run.kind === "snapshot" ? null : m.section("logs",
        lazyText("stdout", logs.stdout, logs.stdout_bytes),
        lazyText("stderr", logs.stderr, logs.stderr_bytes))));
  };

  m.views.path = async function (params) {
    const path = params.get("p") || "";
    let answer;
    try {
      answer = await m.api("log", { path });
    } catch (error) {
      m.setMain(m.failure(error));
      return;
    }
    const rows = answer.versions.map((v) => [v.id ? m.short(v.id) : "(removed)", v.kind, m.size(v.size),
      m.runLink(v.run, v.run_kind + " " + m.short(v.run)), m.when(v.started), v.owner, (v.commit || "-").slice(0, 10)]);
    m.setMain(el("h1", {}, "versions of ", el("span", { class: "mono" }, answer.path)),
      el("p", {}, el("a", { href: m.hashHref("graph", { target: answer.path }) }, "lineage of the latest version")),
      m.table(["content", "kind", "size", "run", "date", "owner", "commit"], rows, { "data-table": "versions" }));
  };
})(window.mlvc);
