"""`mlvc ui` over the synthetic 10,000-run history of bench_history.py: how long from
starting the server to the runs page's first answer, and how long the lineage graph of
the deepest path (a 50-level blame) takes to fetch, lay out and draw in headless
chromium (Debian's, driven by Playwright: `make tools`, `make install`)."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import bench_history as history
from bench_report import Row, under_seconds

SCENARIOS = {"ui": "mlvc ui over 10,000 runs"}
RUNS = 5
CHROMIUM = "/usr/bin/chromium"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        body: bytes = response.read()
        return body


def _start(mlvc: str, repo: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [mlvc, "ui", "--port", "0"], cwd=repo, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    found = re.search(r"http://\S+", process.stdout.readline())
    if found is None:
        process.kill()
        raise RuntimeError("mlvc ui printed no URL")
    return process, found.group()


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(timeout=60)


def startup(mlvc: str, repo: Path) -> float:
    """Spawn `mlvc ui --port 0` until the page and its first runs page have arrived."""
    start = time.perf_counter()
    process, url = _start(mlvc, repo)
    try:
        _get(url)
        _get(url + "api/log?limit=50&offset=0")
        return time.perf_counter() - start
    finally:
        _stop(process)


def cli_log(mlvc: str, repo: Path) -> float:
    """The same first query from the command line, `mlvc log --json -n 50`: a yardstick
    measured beside the start-up, under the same load."""
    start = time.perf_counter()
    subprocess.run([mlvc, "log", "--json", "-n", "50"], cwd=repo, capture_output=True, check=True)
    return time.perf_counter() - start


def graph_render(mlvc: str, repo: Path, target: str, runs: int) -> tuple[float, int]:
    """Median seconds from navigating to the graph of `target` until it is drawn, and
    the number of nodes drawn."""
    from playwright.sync_api import sync_playwright

    process, url = _start(mlvc, repo)
    times, nodes = [], 0
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            tab = browser.new_page(viewport={"width": 1280, "height": 800})
            tab.goto(url + "#/runs")  # scripts loaded and cached: what is timed is the graph
            tab.wait_for_selector("body[data-loaded='1']", timeout=120_000)
            for _ in range(runs):
                tab.goto(url + "#/runs")
                tab.wait_for_selector("body[data-loaded='1']", timeout=120_000)
                start = time.perf_counter()
                tab.goto(f"{url}#/graph?target={quote(target, safe='')}")
                tab.wait_for_selector("#graph[data-ready='1']", timeout=120_000)
                times.append(time.perf_counter() - start)
                nodes = int(tab.get_attribute("#graph", "data-nodes") or 0)
            browser.close()
    finally:
        _stop(process)
    return statistics.median(times), nodes


def bench_ui(work: Path, mlvc: str, log: Callable[[str], None], keep: bool) -> list[Row]:
    if not os.path.exists(CHROMIUM):
        log(f"  ui: {CHROMIUM} is not installed (make tools): no ui rows")
        return []
    import shutil
    import tempfile

    work.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="ui-mlvc-", dir=work))
    try:
        log(f"ui: building {history.CHAINS * history.DEPTH:,} runs in-process")
        hist = history.build(tmp / "repo")
        deepest = history.output_of(0, history.DEPTH - 1)
        start = statistics.median(startup(mlvc, hist.root) for _ in range(RUNS))
        yardstick = statistics.median(cli_log(mlvc, hist.root) for _ in range(RUNS))
        seconds, nodes = graph_render(mlvc, hist.root, deepest, RUNS)
        log(f"  ui: start-up {start:.3f} s (mlvc log -n 50: {yardstick:.3f} s)")
        log(f"  ui: graph of {deepest} ({nodes} nodes) {seconds:.3f} s")
    finally:
        if keep:
            log(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return [
        Row(
            f"`mlvc ui` start-up to the first runs page, {hist.runs:,} runs (median of {RUNS})",
            start,
            None,
            "s",
            under_seconds(1.0),
        ),
        Row(
            f"`mlvc log --json -n 50`, the same first page from the CLI, for scale (median"
            f" of {RUNS}, informational)",
            yardstick,
            None,
            "s",
        ),
        Row(
            f"`mlvc ui` graph of `{deepest}`, {history.DEPTH} levels ({nodes} nodes): fetch,"
            f" layout, draw in headless chromium (median of {RUNS})",
            seconds,
            None,
            "s",
            under_seconds(1.0),
        ),
    ]
