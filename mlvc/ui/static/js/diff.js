"use strict";
// The diff page: `mlvc diff A [B] --json`, section by section, as the terminal shows it.
(function (m) {
  const { el } = m;
  const MARKS = { added: "+", removed: "-", changed: "~", unchanged: " " };

  function side(target) {
    if (target.path && target.run) return target.kind + " " + target.path + "@" + m.short(target.run);
    return target.kind + " " + m.short(target.id);
  }

  function cell(value, present) {
    return present ? m.plainValue(value) : "";
  }

  function changes(title, rows, keyName) {
    if (!rows || !rows.length) return null;
    return m.section(title, m.table(["", keyName || "key", "old", "new"], rows.map((c) => [
      el("span", { class: "mark-" + c.state }, MARKS[c.state]), c.key,
      cell(c.old, c.state !== "added"), cell(c.new, c.state !== "removed")]), { "data-table": title }));
  }

  function metrics(rows) {
    if (!rows || !rows.length) return null;
    return m.section("metrics", m.table(["", "metric", "old", "new", "delta", "%"], rows.map((c) => [
      el("span", { class: "mark-" + c.state }, MARKS[c.state]), c.key,
      cell(c.old, c.state !== "added"), cell(c.new, c.state !== "removed"),
      c.delta === null ? "" : (c.delta > 0 ? "+" : "") + Number(c.delta.toPrecision(6)),
      c.percent === null ? "" : (c.percent > 0 ? "+" : "") + c.percent.toFixed(2) + "%"]), { "data-table": "metrics" }));
  }

  function record(rec) {
    return rec ? rec.kind + " " + m.short(rec.id) + " " + m.size(rec.size) : "";
  }

  function paths(title, list) {
    if (!list || !list.length) return null;
    const rows = [];
    const patches = [];
    for (const change of list) {
      for (const c of [change, ...change.files]) {
        rows.push([el("span", { class: "mark-" + c.state }, MARKS[c.state]),
          (c === change ? "" : "  ") + (c.path || "."), record(c.old), record(c.new)]);
        if (c.patch) patches.push(el("pre", { class: "patch" }, c.patch));
      }
    }
    return m.section(title, m.table(["", "path", "old", "new"], rows, { "data-table": title }), patches);
  }

  function code(c) {
    return [changes("code", c.fields), c.stat ? m.section("git diff --stat", el("pre", {}, c.stat)) : null,
      changes("scripts", c.scripts, "path"),
      c.patch_diff ? m.section("uncommitted patches", el("pre", { class: "patch" }, c.patch_diff)) : null];
  }

  m.views.diff = async function (params) {
    const query = { a: params.get("a") || "" };
    if (params.get("b")) query.b = params.get("b");
    m.setMain(el("p", { class: "dim" }, "loading…"));
    let d;
    try {
      d = await m.api("diff", query);
    } catch (error) {
      m.setMain(m.failure(error));
      return;
    }
    const title = el("h1", {}, "diff ", el("span", { class: "mono" }, side(d.a) + " → " + side(d.b)));
    const links = el("p", {}, d.a.kind === "run" ? m.runLink(d.a.id, "open " + m.short(d.a.id)) : null, " · ",
      d.b.kind === "run" ? m.runLink(d.b.id, "open " + m.short(d.b.id)) : null);
    if (!d.differ) {
      m.setMain(title, links, el("p", { class: "dim" }, "no differences"));
      return;
    }
    if (d.content) {
      m.setMain(title, links, paths("content", [d.content]));
      return;
    }
    const r = d.runs;
    m.setMain(el("div", { class: "diff", "data-diff": "1" }, title, links, changes("command", r.command),
      code(r.code), changes("params", r.params.filter((p) => p.state !== "unchanged")),
      paths("inputs", r.inputs), paths("outputs", r.outputs), metrics(r.metrics),
      changes("environment", r.environment.fields), changes("packages", r.environment.packages, "distribution"),
      changes("resources", r.resources.machine.concat(r.resources.usage))));
  };
})(window.mlvc);
