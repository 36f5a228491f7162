"""Text from runs is data on the page: a run whose message, paths, params (keys and
values), metrics, argv and logs all hold `<script>` and `<img onerror>` payloads is shown
in every view, and none of them runs (each would set `window.__xss`, or open a dialog)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PYTHON, Run, init_store
from tests.ui.conftest import Page, Served, start_ui, stop


def payload(n: int) -> str:
    """Markup that sets window.__xss = n if a browser ever parses it as HTML."""
    return f"<img src=x onerror=window.__xss={n}><script>window.__xss={n}</script>"


def name(n: int) -> str:
    """A file name (no slash) that would set window.__xss = n as HTML."""
    return f"<img src=x onerror=window.__xss={n}>.txt"


SCRIPT = f"""\
import pathlib
import sys

import mlvc

data = pathlib.Path({name(1)!r}).read_text()
pathlib.Path({name(2)!r}).write_text(data + sys.argv[1])
mlvc.log_param({payload(3)!r}, {payload(4)!r})
for step in range(3):
    mlvc.log_metric({payload(5)!r}, step * 0.5, step=step)
print({payload(6)!r})
print({payload(7)!r}, file=sys.stderr)
"""


@pytest.fixture
def hostile(workspace: Path, mlvc: Run) -> Iterator[Served]:
    init_store(workspace)
    (workspace / name(1)).write_text("raw\n")
    (workspace / "params.yaml").write_text(json.dumps({payload(8): payload(9)}) + "\n")
    (workspace / "hostile.py").write_text(SCRIPT)
    mlvc("add", name(1), "-m", payload(10))
    runs = []
    for arg in (payload(11), payload(12)):
        result = mlvc(
            "run",
            "--json",
            "--message",
            payload(13),
            "-p",
            "params.yaml",
            "--",
            PYTHON,
            "hostile.py",
            arg,
        )
        runs.append(json.loads(result.stdout)["run_id"])
    process, url = start_ui(workspace)
    yield Served(url, workspace, {"first": runs[0], "second": runs[1]})
    err = stop(process)
    assert "Traceback" not in err, err


def _visit(page: Page, url: str, ready: str) -> None:
    tab = page.open(url)
    tab.wait_for_selector(ready)
    for lazy in tab.locator("details[data-lazy] summary").all():
        lazy.click()
    tab.wait_for_function(
        "() => [...document.querySelectorAll('pre[data-log]')].every((p) => p.dataset.loaded)"
    )


def test_nothing_from_a_run_executes(hostile: Served, page: Page) -> None:
    first, second = hostile.runs["first"], hostile.runs["second"]
    base = hostile.url
    views = [
        (f"{base}#/graph", "#graph[data-ready='1']"),
        (f"{base}#/runs", "#runs tbody tr"),
        (f"{base}#/runs?all=1", "#runs tbody tr"),
        (f"{base}#/run/{first}", "[data-run-page]"),
        (f"{base}#/run/{second}", "[data-run-page]"),
        (f"{base}#/diff?a={first}&b={second}", "[data-diff]"),
        (f"{base}#/plot?runs={first},{second}", ".chart canvas"),
        (f"{base}#/path?p={_quoted(name(2))}", "[data-table='versions']"),
    ]
    shown = []
    for url, ready in views:
        _visit(page, url, ready)
        shown.append(page.tab.evaluate("() => document.body.innerText"))
        tab = page.tab
        # a node's details are text too
        if "graph" in url:
            tab.evaluate("() => { window.mlvcGraph.nodes().forEach((n) => { n.emit('tap'); }); }")
            shown.append(tab.evaluate("() => document.body.innerText"))
        assert tab.evaluate("() => window.__xss") is None, url
    page.shoot("xss")
    assert page.dialogs == []
    text = "\n".join(shown)
    # the payloads are there, as text: message, argv, params, metric, logs, paths
    for n in (1, 2):
        assert name(n) in text
    for n in range(3, 14):
        assert payload(n) in text, n
    assert page.problems == []


def _quoted(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
