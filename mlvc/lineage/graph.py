"""The lineage DAG upstream of runs: a breadth-first walk over recorded producer links,
and its export as Graphviz dot, Mermaid and plain nodes and edges.

Every run object is loaded once, whatever the number of paths leading to it: a DAG with
shared ancestors (the featurize run read by both train and evaluate) is a DAG, not a tree.
"""

from __future__ import annotations

import shlex
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlvc.errors import MlvcError, ObjectNotFoundError, UnsafePathError
from mlvc.ids import ObjectId, short
from mlvc.lineage.resolve import latest_producer, load_run, resolve_run
from mlvc.objects import Run
from mlvc.repo import Repo
from mlvc.store.refs import Tags

FORMATS = ("tree", "dot", "mermaid", "json")


class GraphFormatError(MlvcError):
    pass


@dataclass(frozen=True)
class RunInfo:
    """What a person needs to know about one run or snapshot: what, who, when, which code."""

    id: ObjectId
    kind: str  # "run", "snapshot", or "missing" for a producer absent from this store
    command: tuple[str, ...]
    started: str
    status: str
    owner: Mapping[str, Any]
    commit: str | None
    dirty: bool
    message: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class InputEdge:
    """`run` read `path` at content `id`, which `producer` made (None: no recorded run)."""

    run: ObjectId
    path: str
    id: ObjectId
    kind: str
    size: int
    producer: ObjectId | None


@dataclass(frozen=True)
class ExternalInput:
    """Data read from outside the workspace: known by path, size and mtime only."""

    path: str
    size: int | None
    mtime_ns: int | None


@dataclass(frozen=True)
class RunNode:
    info: RunInfo
    level: int  # 1 for a starting run, n + 1 for the producer of a level-n input
    expanded: bool  # False past --depth: the run is named, its inputs are not followed
    inputs: tuple[InputEdge, ...]
    external: tuple[ExternalInput, ...]
    input_count: int


@dataclass(frozen=True)
class GraphResult:
    roots: tuple[ObjectId, ...]
    nodes: tuple[RunNode, ...]  # breadth-first from the roots: each run once
    depth: int | None

    @property
    def edges(self) -> tuple[InputEdge, ...]:
        return tuple(edge for node in self.nodes for edge in node.inputs)

    def heads(self) -> tuple[ObjectId, ...]:
        """Runs no run in the graph read from, in node order: where the tree view starts."""
        producers = {edge.producer for edge in self.edges}
        return tuple(n.info.id for n in self.nodes if n.info.id not in producers)


class RunCache:
    """Run objects by id, each loaded and decoded at most once."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._runs: dict[bytes, Run | None] = {}

    def get(self, oid: bytes) -> Run | None:
        """The run, or None when the store does not hold it (pulled without its history)."""
        if oid not in self._runs:
            self._runs[oid] = self.load(oid)
        return self._runs[oid]

    def load(self, oid: bytes) -> Run | None:
        try:
            return load_run(self.repo, oid)
        except ObjectNotFoundError:
            return None


def run_info(oid: bytes, run: Run | None, tags: Mapping[bytes, list[str]]) -> RunInfo:
    names = tuple(sorted(tags.get(oid, ())))
    if run is None:
        return RunInfo(ObjectId(oid), "missing", (), "", "missing", {}, None, False, "", names)
    owner = {k: run.owner.get(k) for k in ("user", "host", "git_name", "git_email")}
    commit = run.code.get("commit")
    return RunInfo(
        id=ObjectId(oid),
        kind=run.kind,
        command=run.command,
        started=run.started,
        status=run.status,
        owner=owner,
        commit=commit if isinstance(commit, str) else None,
        dirty=bool(run.code.get("dirty")),
        message=run.message,
        tags=names,
    )


def upstream(
    repo: Repo,
    roots: Sequence[ObjectId],
    depth: int | None = None,
    runs: RunCache | None = None,
) -> GraphResult:
    """Every run upstream of `roots` through the `producer_run` of their inputs.

    Runs at level `depth` keep their inputs, and the producers of those appear as
    unexpanded nodes, so every edge's producer is a node. Trees are never walked: an
    input directory carries its own producer.
    """
    if depth is not None and depth < 1:
        raise MlvcError(f"--depth must be at least 1, not {depth}")
    cache = RunCache(repo) if runs is None else runs
    tags = Tags(repo.dir).pointing_at()
    starts = tuple(dict.fromkeys(roots))
    level: dict[bytes, int] = dict.fromkeys(starts, 1)
    order = list(starts)
    queue = deque(order)
    while queue:
        oid = queue.popleft()
        run = cache.get(oid)
        if run is None or (depth is not None and level[oid] > depth):
            continue
        for record in run.inputs.values():
            producer = record.producer_run
            if producer is not None and producer not in level:
                level[producer] = level[oid] + 1
                order.append(producer)
                queue.append(producer)
    nodes = tuple(_node(oid, cache.get(oid), level[oid], depth, tags) for oid in order)
    return GraphResult(starts, nodes, depth)


def _node(
    oid: bytes, run: Run | None, level: int, depth: int | None, tags: Mapping[bytes, list[str]]
) -> RunNode:
    info = run_info(oid, run, tags)
    if run is None:
        return RunNode(info, level, False, (), (), 0)
    expanded = depth is None or level <= depth
    inputs = tuple(
        InputEdge(info.id, path, rec.id, rec.kind, rec.size, rec.producer_run)
        for path, rec in sorted(run.inputs.items())
    )
    external = tuple(_external(path, value) for path, value in sorted(run.external.items()))
    if not expanded:
        return RunNode(info, level, False, (), (), len(inputs) + len(external))
    return RunNode(info, level, True, inputs, external, len(inputs) + len(external))


def _external(path: str, value: Any) -> ExternalInput:
    value = value if isinstance(value, dict) else {}
    size, mtime = value.get("size"), value.get("mtime_ns")
    return ExternalInput(
        path, size if isinstance(size, int) else None, mtime if isinstance(mtime, int) else None
    )


def lineage(repo: Repo, target: str | None, cwd: Path) -> GraphResult:
    """`mlvc graph [RUN|PATH]`: upstream of a run, or of the latest producer of a recorded
    path (relative to `cwd`); with no target, the whole history."""
    if target is None:
        return history(repo)
    try:
        rel = repo.relpath(Path(target), cwd)
    except UnsafePathError:
        return upstream(repo, [resolve_run(repo, target)])
    recorded = repo.index.history.is_recorded(rel)
    start = latest_producer(repo, rel) if rel and recorded else resolve_run(repo, target)
    return upstream(repo, [start])


def history(repo: Repo, runs: RunCache | None = None) -> GraphResult:
    """The whole recorded history, most recent run first."""
    return upstream(repo, repo.index.history.run_ids(ok_only=False), None, runs)


# -- export ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportNode:
    id: str  # a safe identifier in dot and mermaid: [A-Za-z0-9_]
    type: str  # "run", "snapshot", "missing", "data" or "external"
    label: str
    ref: str  # the full run id, the content id, or the external path
    path: str | None = None


@dataclass(frozen=True)
class ExportEdge:
    source: str
    target: str


@dataclass(frozen=True)
class Export:
    """The DAG as runs and the data between them: producer -> data -> consumer."""

    nodes: tuple[ExportNode, ...]
    edges: tuple[ExportEdge, ...]


def command_text(command: Sequence[str], limit: int = 60) -> str:
    """The command for a label: the program by its name alone (`python`, not the full
    path of a virtualenv's interpreter), shell-quoted, cut at `limit` characters."""
    if not command:
        return ""
    text = shlex.join([command[0].rpartition("/")[2] or command[0], *command[1:]])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def export(graph: GraphResult) -> Export:
    run_ids = _run_ids(n.info.id for n in graph.nodes)
    nodes = [_run_export(n.info, run_ids[n.info.id]) for n in graph.nodes]
    edges: list[ExportEdge] = []
    data: dict[tuple[str, bytes], str] = {}
    external: dict[str, str] = {}
    for node in graph.nodes:
        consumer = run_ids[node.info.id]
        for edge in node.inputs:
            key = (edge.path, edge.id)
            if key not in data:
                data[key] = f"d{len(data) + 1}"
                label = f"{edge.path}\n{short(edge.id)}"
                nodes.append(ExportNode(data[key], "data", label, edge.id.hex(), edge.path))
                if edge.producer is not None:
                    edges.append(ExportEdge(run_ids[edge.producer], data[key]))
            edges.append(ExportEdge(data[key], consumer))
        for ext in node.external:
            if ext.path not in external:
                external[ext.path] = f"x{len(external) + 1}"
                label = f"{ext.path}\n(external)"
                nodes.append(ExportNode(external[ext.path], "external", label, ext.path, ext.path))
            edges.append(ExportEdge(external[ext.path], consumer))
    return Export(tuple(nodes), tuple(edges))


def _run_ids(oids: Iterable[bytes]) -> dict[bytes, str]:
    """`r_` and 16 hex digits, or the whole id in the (astronomically rare) collision."""
    oids = list(oids)
    width = 16 if len({o.hex()[:16] for o in oids}) == len(oids) else 64
    return {o: f"r_{o.hex()[:width]}" for o in oids}


def _run_export(info: RunInfo, node_id: str) -> ExportNode:
    head = short(info.id) if info.kind == "run" else f"{info.kind} {short(info.id)}"
    label = f"{head}\n{command_text(info.command)}" if info.command else head
    return ExportNode(node_id, info.kind, label, info.id.hex())


_DOT_SHAPES = {
    "run": "shape=box",
    "snapshot": "shape=cylinder",
    "missing": 'shape=box, style="dashed"',
    "data": "shape=note",
    "external": 'shape=note, style="dashed"',
}


def to_dot(graph: Export) -> str:
    lines = ["digraph lineage {", '  node [fontname="monospace"];']
    for node in graph.nodes:
        lines.append(f'  {node.id} [{_DOT_SHAPES[node.type]}, label="{_dot_text(node.label)}"];')
    lines.extend(f"  {edge.source} -> {edge.target};" for edge in graph.edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return escaped.replace("\r", "").replace("\n", "\\n")


_MERMAID_SHAPES = {
    "run": ('["', '"]'),
    "snapshot": ('[("', '")]'),
    "missing": ('["', '"]'),
    "data": ('(["', '"])'),
    "external": ('>"', '"]'),
}


def to_mermaid(graph: Export) -> str:
    lines = ["flowchart TD"]
    for node in graph.nodes:
        start, end = _MERMAID_SHAPES[node.type]
        lines.append(f"    {node.id}{start}{_mermaid_text(node.label)}{end}")
    lines.extend(f"    {edge.source} --> {edge.target}" for edge in graph.edges)
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """Inside a quoted label only entity codes are safe for `#`, quotes, `<`, `>`, backticks."""
    codes = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "`": "#96;", "\r": ""}
    escaped = "".join(codes.get(c, c) for c in text)
    return escaped.replace("\n", "<br/>")
