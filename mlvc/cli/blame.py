"""`mlvc blame` and `mlvc graph`: upstream provenance as trees, lines, keys and graphs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlvc import encode
from mlvc.cli import render
from mlvc.errors import MlvcError
from mlvc.ids import short
from mlvc.paths import check_text

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text
    from rich.tree import Tree

    from mlvc.lineage.blame import BlameResult, KeysResult, LinesResult, Target
    from mlvc.lineage.graph import GraphResult, InputEdge, RunInfo, RunNode


def blame_command(target: str, depth: int | None, lines: bool, keys: bool, json: bool) -> None:
    from mlvc.lineage import blame as lib
    from mlvc.repo import Repo

    if lines and keys:
        raise MlvcError(
            "--lines and --keys cannot be combined", hint="run mlvc blame once for each"
        )
    check_text(target, "target")
    cwd = Path.cwd()
    repo = Repo.discover(cwd)
    try:
        if lines:
            _lines(lib.blame_lines(repo, target, cwd), json)
        elif keys:
            _keys(lib.blame_keys(repo, target, cwd), json)
        else:
            _provenance(lib.blame(repo, target, cwd, depth), json)
    finally:
        repo.close()


def graph_command(target: str | None, fmt: str, steps: bool = False, json: bool = False) -> None:
    from mlvc.lineage import graph as lib
    from mlvc.repo import Repo

    if target is not None:
        check_text(target, "target")
    fmt = "json" if json else fmt
    if fmt not in lib.FORMATS:
        raise lib.GraphFormatError(
            f"unknown graph format '{fmt}'", hint=f"use one of {', '.join(lib.FORMATS)}"
        )
    if steps:
        _steps(target, fmt)
        return
    cwd = Path.cwd()
    repo = Repo.discover(cwd)
    try:
        result = lib.lineage(repo, target, cwd)
    finally:
        repo.close()
    if fmt == "tree":
        _print_forest(result)
        return
    if fmt == "json":
        render.emit_json(encode.graph_json(result))
    else:
        exported = lib.export(result)
        text = lib.to_dot(exported) if fmt == "dot" else lib.to_mermaid(exported)
        sys.stdout.write("\n".join(render.shown(line) for line in text.split("\n")))


def _steps(target: str | None, fmt: str) -> None:
    from mlvc.cli.pipeline import show_pipeline
    from mlvc.lineage.graph import GraphFormatError

    if target is not None:
        raise MlvcError(
            "graph --steps shows the whole pipeline and takes no target",
            hint="run 'mlvc graph --steps', or 'mlvc graph TARGET' for a target's runs",
        )
    if fmt not in ("tree", "json"):
        raise GraphFormatError(
            f"graph --steps has no '{fmt}' format", hint="use --format tree or --json"
        )
    show_pipeline(fmt == "json")


def _provenance(result: BlameResult, json: bool) -> None:
    if json:
        render.emit_json(encode.blame_json(result))
        return
    from rich.tree import Tree

    target = result.target
    # A run named by id is its own root; content is shown above the run that made it.
    root = Tree("", hide_root=True) if target.kind == "run" else Tree(_target_label(target))
    console = render.out()
    forest = _Forest(result.graph, console.width)
    forest.add(root, target.producer, 0 if target.kind == "run" else 1)
    forest.print(console, root)


def _print_forest(graph: GraphResult) -> None:
    from rich.text import Text
    from rich.tree import Tree

    if not graph.nodes:
        sys.stdout.write("no runs recorded yet (mlvc run -- CMD records one)\n")
        return
    console = render.out()
    root = Tree("", hide_root=True)
    forest = _Forest(graph, console.width)
    for head in graph.heads():
        forest.add(root, head, 0)
    forest.print(console, root)
    if graph.depth is None and len(graph.roots) > 1:
        console.print(Text(f"{len(graph.nodes)} runs", style="dim"))


_Item = tuple["Tree", "Text | None", "bytes | None", int]


class _Forest:
    """Builds the rich trees of a lineage DAG, depth first and iteratively (a chain can be
    deeper than Python's recursion limit). A run already shown is named again as
    `(see above)`, never expanded twice. Past `limit` levels a run continues in a tree of
    its own below, so a 50-run chain stays readable."""

    def __init__(self, graph: GraphResult, width: int) -> None:
        self.graph = graph
        self.nodes: dict[bytes, RunNode] = {n.info.id: n for n in graph.nodes}
        self.limit = max(3, min(16, (width - 40) // 4))
        self.seen: set[bytes] = set()
        self.deferred: list[bytes] = []

    def print(self, console: Console, root: Tree) -> None:
        from rich.tree import Tree

        console.print(root)
        for oid in self.deferred:
            tree = Tree("", hide_root=True)
            self._walk([(tree, None, oid, 0)], expand=oid)
            console.print()
            console.print(tree)

    def add(self, parent: Tree, start: bytes, level: int) -> None:
        self._walk([(parent, None, start, level)], expand=None)

    def _walk(self, stack: list[_Item], expand: bytes | None) -> None:
        from rich.text import Text

        while stack:
            branch, label, oid, level = stack.pop()
            if oid is None:
                assert label is not None
                branch.add(label)
                continue
            node = self.nodes[oid]
            # One line per row, cropped with an ellipsis: wrapping deep rows is slow and
            # harder to read than a cut command.
            head = Text(no_wrap=True, overflow="ellipsis") if label is None else label.copy()
            if oid in self.seen and oid != expand:
                later = oid in self.deferred
                head.append_text(_run_head(node.info, "continued below" if later else "see above"))
                branch.add(head)
                continue
            expand = None if oid == expand else expand
            self.seen.add(oid)
            if level >= self.limit and node.inputs:
                head.append_text(_run_label(node.info, "continued below"))
                branch.add(head)
                self.deferred.append(oid)
                continue
            head.append_text(_run_label(node.info))
            child = branch.add(head)
            if not node.expanded:
                if node.input_count:
                    more = f"… {node.input_count} inputs not followed (--depth {self.graph.depth})"
                    child.add(Text(more, style="dim"))
                continue
            stack.extend(reversed(_children(node, child, level + 1)))


def _children(node: RunNode, child: Tree, level: int) -> list[_Item]:
    from rich.text import Text

    items: list[_Item] = []
    for edge in node.inputs:
        text = _edge_label(edge)
        if edge.producer is None:
            text.append("  no recorded producer", style="yellow")
        else:
            text.append(" ← ", style="dim")
        items.append((child, text, edge.producer, level))
    for ext in node.external:
        text = Text.assemble(
            ("external ", "magenta"), render.shown(ext.path), no_wrap=True, overflow="ellipsis"
        )
        if ext.size is not None:
            text.append(f"  {render.size(ext.size)}", style="dim")
        text.append("  outside the workspace, content not stored", style="dim")
        items.append((child, text, None, level))
    return items


def _target_label(target: Target) -> Text:
    from rich.text import Text

    path = render.shown(target.path or "")
    label = Text.assemble((path, "bold"), "  ", (short(target.id), "cyan"))
    label.append(f"  {target.kind} · {render.size(target.size)}", style="dim")
    return label


def _edge_label(edge: InputEdge) -> Text:
    from rich.text import Text

    path = render.shown(edge.path) + ("/" if edge.kind == "tree" else "")
    return Text.assemble(
        path,
        "  ",
        (short(edge.id), "cyan"),
        (f"  {render.size(edge.size)}", "dim"),
        no_wrap=True,
        overflow="ellipsis",
    )


def _run_head(info: RunInfo, note: str = "", command: bool = False) -> Text:
    """Kind, short id, tags and `note` first: a row cropped to the terminal keeps them."""
    from rich.text import Text

    from mlvc.lineage.graph import command_text

    style = {"run": "bold", "snapshot": "bold green", "missing": "bold red"}[info.kind]
    head = Text.assemble((info.kind, style), " ", (short(info.id), "yellow"))
    for tag in info.tags:
        head.append(f" [{render.shown(tag)}]", style="bold magenta")
    if note:
        head.append(f" ({note})", style="dim")
    if info.status not in ("ok", "missing"):
        head.append(f" {info.status}", style="red")
    if command and info.command:
        head.append("  " + render.shown(command_text(info.command, 80)))
    return head


def _run_label(info: RunInfo, note: str = "") -> Text:
    head = _run_head(info, note, command=True)
    if info.kind == "missing":
        head.append("  not in this store (try 'mlvc pull')", style="red")
        return head
    head.append("\n" + render.shown(_who_when(info)), style="dim")
    if info.commit:
        head.append(f" · commit {info.commit[:8]}", style="dim")
        if info.dirty:
            head.append(" dirty", style="yellow")
    if info.message:
        head.append(f" · {render.shown(info.message)}", style="dim italic")
    return head


def _who_when(info: RunInfo) -> str:
    owner = info.owner
    who = f"{owner.get('user') or '?'}@{owner.get('host') or '?'}"
    if owner.get("git_name"):
        who += f" ({owner['git_name']})"
    return f"{who} · {_when(info.started)}"


def _when(started: str) -> str:
    return started[:16].replace("T", " ") + " UTC" if started else "?"


def _lines(result: LinesResult, json: bool) -> None:
    if json:
        render.emit_json(encode.blame_lines_json(result))
        return
    from rich.text import Text

    console = render.out()
    console.print(_header(result.target, result.versions))
    width = len(str(len(result.lines)))
    for line in result.lines:
        info = result.runs[line.run]
        user = render.shown(info.owner.get("user") or "?")[:10]
        text = Text.assemble(
            (short(line.run), "yellow"),
            (f" {info.kind[:4]:4} {user:10} {_when(info.started)[:16]} ", "dim"),
            (f"{line.number:>{width}}", "dim"),
            " │ ",
            render.shown(line.text, block=True),
        )
        console.print(text, soft_wrap=True)


def _keys(result: KeysResult, json: bool) -> None:
    if json:
        render.emit_json(encode.blame_keys_json(result))
        return
    from rich.table import Table

    from mlvc.lineage.graph import command_text

    console = render.out()
    console.print(_header(result.target, result.versions))
    table = Table(show_edge=False, pad_edge=False)
    for column in ("key", "value", "set by", "command", "when"):
        table.add_column(column, overflow="fold")
    for key in result.keys:
        info = result.runs[key.run]
        table.add_row(
            render.shown(key.key),
            _value(key.value),
            f"{info.kind} {short(key.run)}",
            render.shown(command_text(info.command, 40)),
            _when(info.started),
        )
    console.print(table)


def _header(target: Target, versions: int) -> Text:
    label = _target_label(target)
    label.append(f" · {versions} version{'s' if versions != 1 else ''}", style="dim")
    return label


def _value(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    return render.shown(value)
