"""`mlvc graph`: the lineage DAG as a tree, and exported as dot, mermaid and json."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mlvc.ids import ObjectId
from mlvc.lineage.graph import export, to_dot, to_mermaid, upstream
from mlvc.objects import PathRecord, Run
from mlvc.recorder import IndexRows, record
from mlvc.repo import Repo
from tests.conftest import PYTHON, STAGES, Pipeline, Template, build_pipeline, init_store
from tests.conftest import Run as Mlvc

SAFE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DOT_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, ran_template: Template) -> Pipeline:
    return build_pipeline(tmp_path_factory, ran_template)


def _graph(pipeline: Pipeline, *args: str) -> str:
    return pipeline.mlvc("graph", *args).stdout


def _check_dot(text: str) -> tuple[set[str], list[tuple[str, str]]]:
    """A structural parse of our dot: declared node ids and the edges between them."""
    assert text.startswith("digraph ")
    bare = DOT_STRING.sub('""', text)  # labels may hold anything, escaped
    assert '"' not in DOT_STRING.sub("", text)
    assert bare.count("{") == bare.count("}") == 1 and bare.rstrip().endswith("}")
    nodes: set[str] = set()
    edges: list[tuple[str, str]] = []
    for line in bare.splitlines()[1:-1]:
        line = line.strip()
        if line.startswith("node ["):
            continue  # default attributes
        if match := re.fullmatch(r"(\w+) -> (\w+);", line):
            edges.append((match[1], match[2]))
        else:
            match = re.fullmatch(r"(\w+) \[.*\];", line)
            assert match, line
            nodes.add(match[1])
    assert all(SAFE_ID.fullmatch(n) for n in nodes)
    assert all(a in nodes and b in nodes for a, b in edges)
    return nodes, edges


def _check_mermaid(text: str) -> tuple[set[str], list[tuple[str, str]]]:
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    nodes: set[str] = set()
    edges: list[tuple[str, str]] = []
    for line in lines[1:]:
        line = line.strip()
        if match := re.fullmatch(r"(\w+) --> (\w+)", line):
            edges.append((match[1], match[2]))
            continue
        match = re.fullmatch(r'(\w+)(\[\(|\(\[|\[|>)"([^"]*)"(\)\]|\]\)|\])', line)
        assert match, line
        nodes.add(match[1])
        assert "<" not in match[3].replace("<br/>", "")
    assert all(SAFE_ID.fullmatch(n) for n in nodes)
    assert all(a in nodes and b in nodes for a, b in edges)
    return nodes, edges


def test_dot_export_of_a_path(pipeline: Pipeline) -> None:
    runs = pipeline.runs
    text = _graph(pipeline, "metrics.json", "--format", "dot")
    nodes, edges = _check_dot(text)
    runs_shown = {n for n in nodes if n.startswith("r_")}
    assert runs_shown == {f"r_{runs[s][:16]}" for s in ("raw", *STAGES)}
    assert f"{runs['train'][:12]}\\n{Path(PYTHON).name} train.py" in text
    assert "data/raw/points.csv\\n" in text and "shape=cylinder" in text
    # producer -> data -> consumer, both ways through the same data node
    data = {b for a, b in edges if a == f"r_{runs['raw'][:16]}"}
    assert len(data) == 1
    assert (data.pop(), f"r_{runs['prepare'][:16]}") in edges


def test_mermaid_export_of_a_run(pipeline: Pipeline) -> None:
    runs = pipeline.runs
    text = _graph(pipeline, runs["train"][:10], "--format", "mermaid")
    nodes, edges = _check_mermaid(text)
    assert {n for n in nodes if n.startswith("r_")} == {
        f"r_{runs[s][:16]}" for s in ("raw", "prepare", "featurize", "train")
    }
    assert f'r_{runs["raw"][:16]}[("snapshot {runs["raw"][:12]}<br/>mlvc add data/raw")]' in text
    assert len(edges) == len(set(edges))


def test_json_export_is_consistent(pipeline: Pipeline) -> None:
    runs = pipeline.runs
    result: dict[str, Any] = json.loads(_graph(pipeline, "model", "--format", "json"))
    ids = [n["id"] for n in result["nodes"]]
    assert len(ids) == len(set(ids))
    assert all(e["source"] in ids and e["target"] in ids for e in result["edges"])
    run_refs = {n["ref"] for n in result["nodes"] if n["type"] in ("run", "snapshot")}
    assert run_refs == {runs[s] for s in ("raw", "prepare", "featurize", "train")}
    assert result["roots"] == [runs["train"]]  # the latest producer of `model`
    data = [n for n in result["nodes"] if n["type"] == "data"]
    assert len({(n["path"], n["ref"]) for n in data}) == len(data)
    assert {n["path"] for n in data} >= {"params.yaml", "data/raw/points.csv"}


def test_the_whole_history_most_recent_first(pipeline: Pipeline) -> None:
    runs = pipeline.runs
    result = json.loads(_graph(pipeline, "--format", "json"))
    assert result["roots"] == [
        runs[s] for s in ("evaluate", "train", "featurize", "prepare", "raw")
    ]
    tree = _graph(pipeline)
    assert tree.splitlines()[0].startswith(f"run {runs['evaluate'][:12]}")
    for stage in ("raw", *STAGES):
        assert runs[stage][:12] in tree
    assert "(see above)" in tree and "5 runs" in tree
    _check_dot(_graph(pipeline, "--format", "dot"))
    _check_mermaid(_graph(pipeline, "--format", "mermaid"))


def test_an_unknown_format_or_target(pipeline: Pipeline) -> None:
    bad = pipeline.mlvc("graph", "--format", "svg", check=False)
    assert bad.returncode == 1 and "error: unknown graph format 'svg'" in bad.stderr
    unknown = pipeline.mlvc("graph", "no-such-thing", check=False)
    assert unknown.returncode == 1 and "error:" in unknown.stderr


def test_an_empty_history(workspace: Path, mlvc: Mlvc) -> None:
    init_store(workspace)
    assert "no runs recorded yet" in mlvc("graph").stdout
    assert json.loads(mlvc("graph", "--format", "json").stdout)["nodes"] == []
    assert mlvc("graph", "--format", "dot").stdout.startswith("digraph")


def test_labels_with_hostile_text_stay_quoted(repo: Repo) -> None:
    """Commands and paths hold quotes, braces, backslashes, newlines and markup: the
    exports must keep every one inside its label."""
    nasty = 'say "hi" {x} \\ <b>#1</b> `end`\nnext'
    data = repo.store.put_bytes(b"x")
    first = record(
        repo,
        Run(
            kind="run",
            started="2026-01-01T00:00:00.000000Z",
            ended="2026-01-01T00:00:01.000000Z",
            status="ok",
            command=("sh", "-c", nasty),
            outputs={'odd "name" {1}.txt': PathRecord(data, "file", 1)},
            external={"/data/set; {x}.csv": {"size": 3, "mtime_ns": 1}},
        ),
        IndexRows(),
    )
    second = record(
        repo,
        Run(
            kind="run",
            started="2026-01-01T00:00:02.000000Z",
            ended="2026-01-01T00:00:03.000000Z",
            status="failed",
            command=("end",),
            inputs={'odd "name" {1}.txt': PathRecord(data, "file", 1, first)},
        ),
        IndexRows(),
    )
    exported = export(upstream(repo, [ObjectId(second)]))
    assert {n.type for n in exported.nodes} == {"run", "data", "external"}
    dot = to_dot(exported)
    nodes, edges = _check_dot(dot)
    assert len(nodes) == 4 and len(edges) == 3
    assert '\\"hi\\" {x} \\\\ <b>#1</b> `end`\\nnext' in dot
    mermaid = to_mermaid(exported)
    _check_mermaid(mermaid)
    assert "#quot;hi#quot; {x} \\ #lt;b#gt;#35;1#lt;/b#gt; #96;end#96;<br/>next" in mermaid
