"use strict";
// Building the page without HTML: every string from the store becomes a text node
// (textContent / createTextNode), never markup. Links are built from checked ids only.
window.mlvc = (function () {
  const HEX = /^[0-9a-f]{4,64}$/;

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "onclick" || name === "oninput" || name === "onchange") {
        node.addEventListener(name.slice(2), value);
      } else if (name === "text") {
        node.textContent = String(value);
      } else {
        node.setAttribute(name, String(value));
      }
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function short(hex) {
    return typeof hex === "string" ? hex.slice(0, 12) : "-";
  }

  function runHref(hex) {
    return HEX.test(hex || "") ? "#/run/" + hex : "#/runs";
  }

  function hashHref(view, params) {
    return "#/" + view + "?" + new URLSearchParams(params).toString();
  }

  function runLink(hex, label) {
    return el("a", { href: runHref(hex), class: "id", "data-run": HEX.test(hex || "") ? hex : null },
      label === undefined ? short(hex) : label);
  }

  function queryKey(name, params) {
    const pairs = Object.keys(params).sort().map(
      (k) => encodeURIComponent(k) + "=" + encodeURIComponent(params[k]));
    return pairs.length ? name + "?" + pairs.join("&") : name;
  }

  class QueryError extends Error {
    constructor(body) {
      super(body && body.error ? body.error : "the query failed");
      this.hint = body && body.hint;
    }
  }

  // The JSON the CLI's --json prints: from the server, or from data.js in an export.
  async function api(name, params) {
    const key = queryKey(name, params || {});
    if (window.MLVC_DATA) {
      const answer = window.MLVC_DATA[key];
      if (!answer) {
        throw new QueryError({ error: "not in this export: " + key,
          hint: "run 'mlvc ui' in the workspace to ask any question" });
      }
      if (answer.status !== 200) throw new QueryError(answer.body);
      return answer.body;
    }
    const response = await fetch("api/" + key, { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new QueryError(body);
    return body;
  }

  function failure(error) {
    return el("div", { class: "error" }, "error: " + error.message,
      error.hint ? el("div", { class: "hint" }, "hint: " + error.hint) : null);
  }

  function plainValue(value) {
    if (value === null || value === undefined) return "null";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function table(headers, rows, attrs) {
    return el("table", attrs || {},
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
  }

  function section(title, ...children) {
    return el("section", { "data-section": title }, el("h2", {}, title), ...children);
  }

  function pairs(title, values) {
    const keys = Object.keys(values || {}).sort();
    if (!keys.length) return null;
    return section(title, table(["key", "value"], keys.map((k) => [k, plainValue(values[k])])));
  }

  function size(n) {
    if (typeof n !== "number") return "-";
    const units = ["B", "KiB", "MiB", "GiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return i === 0 ? n + " B" : n.toFixed(1) + " " + units[i];
  }

  function when(iso) {
    return typeof iso === "string" ? iso.replace("T", " ").slice(0, 19) : "-";
  }

  function commandText(command) {
    if (!Array.isArray(command) || !command.length) return "";
    const program = String(command[0]).split("/").pop();
    return [program, ...command.slice(1)].map((a) =>
      /^[\w@%+=:,./-]+$/.test(a) ? a : "'" + String(a).replace(/'/g, "'\"'\"'") + "'").join(" ");
  }

  function setMain(...children) {
    const main = document.getElementById("main");
    main.replaceChildren(...children.filter((c) => c));
    return main;
  }

  return { el, append, short, runHref, hashHref, runLink, queryKey, api, failure, plainValue,
    table, section, pairs, size, when, commandText, setMain, HEX, views: {} };
})();
