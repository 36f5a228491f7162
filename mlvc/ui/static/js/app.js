"use strict";
// The router: `#/VIEW/REST?QUERY` picks a view of window.mlvc.views.
(function (m) {
  async function route() {
    const hash = location.hash.replace(/^#\/?/, "") || "graph";
    const [path, query] = hash.split("?");
    const [view, ...rest] = path.split("/");
    const show = m.views[view] || m.views.graph;
    document.querySelectorAll("nav a").forEach((a) =>
      a.classList.toggle("active", a.dataset.view === view));
    document.body.setAttribute("data-view", view);
    document.body.setAttribute("data-loaded", "0");
    try {
      await show(new URLSearchParams(query || ""), decodeURIComponent(rest.join("/")));
    } finally {
      document.body.setAttribute("data-loaded", "1");
    }
  }
  document.getElementById("mode").textContent = window.MLVC_DATA ? "exported page" : "read-only";
  window.addEventListener("hashchange", route);
  route();
})(window.mlvc);
