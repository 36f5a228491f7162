"""`mlvc ui` in headless chromium: the lineage graph of the example pipeline, a run page, the
runs table, the diff of the two train runs, metric plots, and the exported page from disk.
Each view's screenshot goes to test-artifacts/ui/, and those docs/ui.md shows to docs/ui/."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from mlvc.objects import Run
from mlvc.recorder import IndexRows, record
from mlvc.repo import Repo
from tests.conftest import MLVC, PYTHON, init_store
from tests.ui.conftest import Page, Served, start_ui, stop

STAGES = ("raw", "prepare", "featurize", "train", "evaluate")


def _graph(tab: Any) -> dict[str, Any]:
    """The drawn graph, read from the cytoscape instance the page exposes."""
    tab.wait_for_selector("#graph[data-ready='1']")
    return tab.evaluate(
        """() => ({
          nodes: window.mlvcGraph.nodes().map((n) => n.data()),
          edges: window.mlvcGraph.edges().map((e) => [e.source().data(), e.target().data()]),
        })"""
    )


def _run_node(graph: dict[str, Any], run: str) -> dict[str, Any]:
    return next(n for n in graph["nodes"] if n["ref"] == run)


def test_graph_of_the_pipeline(served: Served, page: Page) -> None:
    """Upstream of the first evaluate run: the snapshot, four runs and the data between
    them, each data node written by its producer and read by its consumer."""
    runs = served.runs
    tab = page.open(f"{served.url}#/graph?target={runs['evaluate']}")
    graph = _graph(tab)
    assert sorted(n["ref"] for n in graph["nodes"] if n["type"] in ("run", "snapshot")) == sorted(
        runs[s] for s in STAGES
    )
    links = {(a["ref"], b.get("path")) for a, b in graph["edges"] if a["type"] != "data"}
    reads = {(a.get("path"), b["ref"]) for a, b in graph["edges"] if a["type"] == "data"}
    assert (runs["raw"], "data/raw/points.csv") in links
    assert (runs["prepare"], "data/prepared/train.csv") in links
    assert (runs["featurize"], "data/features/train.json") in links
    assert (runs["train"], "model/model.json") in links
    assert ("data/raw/points.csv", runs["prepare"]) in reads
    assert ("data/features/train.json", runs["train"]) in reads
    assert ("model/model.json", runs["evaluate"]) in reads
    assert ("params.yaml", runs["train"]) in reads
    assert tab.get_attribute("#graph", "data-edges") == str(len(graph["edges"]))
    # train2 wrote a new model since: status marks the evaluate run that read the old one
    tab.wait_for_selector("#graph[data-stale]")
    stale = tab.evaluate("() => window.mlvcGraph.nodes('.stale').map((n) => n.data('ref'))")
    assert runs["evaluate"] in stale
    # a block, so that the collection emit() returns is not serialised back to Python
    tab.evaluate(
        f"() => {{ window.mlvcGraph.getElementById('{_run_node(graph, runs['train'])['id']}')"
        ".select().emit('tap'); }"
    )
    assert tab.locator("#details").get_by_text("open run").count() == 1
    page.shoot("graph", docs=True)
    assert page.problems == []


def test_whole_history_graph(served: Served, page: Page) -> None:
    graph = _graph(page.open(served.url))
    runs = {n["ref"] for n in graph["nodes"] if n["type"] in ("run", "snapshot")}
    assert runs == set(served.runs.values())
    assert page.problems == []


def test_run_page(served: Served, page: Page) -> None:
    """The curve run: command, message, metric series as charts, code, logs on demand."""
    tab = page.open(f"{served.url}#/run/{served.runs['curve']}")
    tab.wait_for_selector("[data-run-page]")
    assert tab.get_by_text("python curve.py").count() >= 1
    assert tab.get_by_text("a curve", exact=True).count() == 1
    for key in ("loss", "accuracy"):
        tab.wait_for_selector(f".chart[data-series='{key}'] canvas")
        assert tab.get_attribute(f".chart[data-series='{key}']", "data-points") == "25"
    tab.click("details[data-lazy='stdout'] summary")
    tab.wait_for_selector("pre[data-log='stdout'][data-loaded='1']")
    assert "fitted the curve" in tab.text_content("pre[data-log='stdout']")
    page.shoot("run", docs=True)
    # the train run: its inputs link to their producers
    tab = page.open(f"{served.url}#/run/{served.runs['train']}")
    producer = tab.locator("[data-table='inputs'] a[data-run]").first.get_attribute("data-run")
    assert producer == served.runs["featurize"]
    assert page.problems == []


def test_runs_table_picks_the_two_train_runs_for_a_diff(served: Served, page: Page) -> None:
    runs = served.runs
    tab = page.open(f"{served.url}#/runs")
    tab.select_option("select[name='step']", label=f"{Path(PYTHON).name} train.py")
    tab.wait_for_selector("#runs[data-rows='2']")
    # only the param that differs between the two is a column
    assert tab.locator("th[data-column='param train.learning_rate']").count() == 1
    assert tab.locator("th[data-column='param train.epochs']").count() == 0
    tab.click("th[data-column='metric train_loss']")
    tab.check(f"input[data-pick='{runs['train']}']")
    tab.check(f"input[data-pick='{runs['train2']}']")
    page.shoot("runs", docs=True)
    tab.click("#diff-picked")
    tab.wait_for_selector("[data-diff]")
    row = tab.locator("[data-table='params'] tbody tr")
    assert row.count() == 1
    assert [c.strip() for c in row.first.locator("td").all_text_contents()] == [
        "~",
        "train.learning_rate",
        "0.1",
        "0.5",
    ]
    assert tab.locator("[data-table='metrics']").get_by_text("train_loss").count() == 1
    page.shoot("diff", docs=True)
    assert page.problems == []


def test_runs_table_filters_and_pages(served: Served, page: Page) -> None:
    tab = page.open(f"{served.url}#/runs")
    tab.wait_for_selector("#runs[data-rows='7']")
    tab.fill("input[name='filter']", "curve")
    tab.wait_for_selector("#runs[data-rows='1']")
    tab = page.open(f"{served.url}#/runs?offset=50")
    tab.wait_for_selector("#runs[data-rows='0']")
    assert page.problems == []


def test_metric_plots_across_runs(served: Served, page: Page) -> None:
    runs = served.runs
    tab = page.open(f"{served.url}#/plot?runs={runs['train']},{runs['train2']},{runs['curve']}")
    tab.wait_for_selector(".chart[data-metric='train_loss'] canvas")
    assert tab.get_attribute(".chart[data-metric='train_loss']", "data-points") == "3"
    tab.wait_for_selector(".chart[data-series='loss'] canvas")
    page.shoot("plot", docs=True)
    assert page.problems == []


def test_exported_page_opens_from_disk(served: Served, page: Page, tmp_path: Path) -> None:
    out = tmp_path / "site"
    subprocess.run([MLVC, "ui", "--export", str(out)], cwd=served.workspace, check=True)
    runs = served.runs
    url = (out / "index.html").as_uri()
    graph = _graph(page.open(url))
    assert {n["ref"] for n in graph["nodes"] if n["type"] == "run"} >= {
        runs["train"],
        runs["curve"],
    }
    tab = page.open(f"{url}#/diff?a={runs['train']}&b={runs['train2']}")
    tab.wait_for_selector("[data-diff]")
    assert tab.locator("[data-table='params']").get_by_text("train.learning_rate").count() == 1
    tab = page.open(f"{url}#/run/{runs['curve']}")
    tab.wait_for_selector(".chart[data-series='loss'] canvas")
    assert tab.text_content("#mode") == "exported page"
    assert page.problems == []


def test_a_long_history_opens_on_the_newest_run(workspace: Path, page: Page) -> None:
    """Past 50 runs the landing graph is the lineage of the newest run, not the whole
    history (dagre over thousands of runs would take minutes)."""
    repo = Repo.discover(init_store(workspace))
    try:
        ids = [
            record(
                repo,
                Run(
                    kind="run",
                    started=f"2026-01-01T00:{k // 60:02d}:{k % 60:02d}.000000Z",
                    ended=f"2026-01-01T00:{k // 60:02d}:{k % 60:02d}.500000Z",
                    status="ok",
                    command=("python", "step.py", str(k)),
                ),
                IndexRows(),
            ).hex()
            for k in range(51)
        ]
    finally:
        repo.close()
    process, url = start_ui(workspace)
    try:
        graph = _graph(page.open(url))
        assert [n["ref"] for n in graph["nodes"]] == [ids[-1]]
        assert "more than 50 runs" in page.tab.text_content("#graph-note")
    finally:
        stop(process)
    assert page.problems == []
