"""`mlvc diff A B`: two runs, or two versions of content, side by side."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlvc.cli import render
from mlvc.ids import short

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from mlvc.lineage.diff import (
        CodeDiff,
        DiffResult,
        EnvironmentDiff,
        MetricChange,
        ResourcesDiff,
        Target,
        ValueChange,
    )
    from mlvc.lineage.pathdiff import PathChange
    from mlvc.objects import PathRecord

_MARKS = {
    "added": ("+", "green"),
    "removed": ("-", "red"),
    "changed": ("~", "yellow"),
    "unchanged": (" ", "dim"),
}


def diff_command(
    a: str, b: str | None, all_params: bool, content: bool, exit_code: bool, json: bool
) -> int:
    """Compare A and B; the exit code is 1 when they differ and `exit_code` is set, else 0."""
    from mlvc.lineage.diff import diff
    from mlvc.repo import Repo

    repo = Repo.discover(Path.cwd())
    try:
        result = diff(repo, a, b, all_params=all_params, content=content, env=dict(os.environ))
    finally:
        repo.close()
    if json:
        render.emit_json(result)
    else:
        print_diff(render.out(), result)
    return 1 if exit_code and result.differ else 0


def print_diff(console: Console, result: DiffResult) -> None:
    from rich.text import Text

    names = render.shown(f" {_name(result.a)} → {_name(result.b)}")
    console.print(Text.assemble(("diff", "bold"), names))
    if not result.differ:
        console.print("no differences", style="dim")
        return
    if result.content is not None:
        _print_paths(console, "content", (result.content,))
        return
    runs = result.runs
    assert runs is not None
    if runs.command:
        _section(console, _changes("command", runs.command))
    _print_code(console, runs.code)
    params = runs.params
    if any(p.state != "unchanged" for p in params):
        _section(console, _changes("params", params))
    _print_paths(console, "inputs", runs.inputs)
    _print_paths(console, "outputs", runs.outputs)
    if runs.metrics:
        _section(console, _metrics(runs.metrics))
    _print_environment(console, runs.environment)
    _print_resources(console, runs.resources)


def _section(console: Console, table: Table) -> None:
    console.print()
    console.print(table)


def _name(side: Target) -> str:
    if side.path is not None and side.run is not None:
        return f"{side.kind} {side.path}@{short(side.run)}"
    return f"{side.kind} {short(side.id or b'')}"


def _table(title: str, *columns: str) -> Table:
    from rich.table import Table

    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=None,
        header_style="dim",
        pad_edge=False,
    )
    table.add_column("", width=1, no_wrap=True)
    for column in columns:
        table.add_column(column, justify="right" if column in ("delta", "%") else "left")
    return table


def _mark(state: str) -> Text:
    from rich.text import Text

    mark, style = _MARKS[state]
    return Text(mark, style=style)


def _text(value: str, style: str = "") -> Text:
    """User text as rich Text: never markup, its control characters escaped."""
    from rich.text import Text

    return Text(render.shown(value), style=style)


def _cell(key: str, value: Any, present: bool = True) -> Text:
    """A value as people read it (see `_text`)."""
    from rich.text import Text

    if not present:
        return Text("")
    if key == "argv" and isinstance(value, list):
        return _text(shlex.join(str(v) for v in value))
    if isinstance(value, bytes):
        return Text(short(value))
    if value is None:
        return Text("null", style="dim")
    if isinstance(value, bool):
        return Text(str(value).lower())
    if key.endswith("_bytes") and isinstance(value, int):
        return Text(render.size(value))
    if key.endswith("_seconds") and isinstance(value, int | float):
        return Text(f"{value:.2f} s")
    if isinstance(value, list | dict):
        return _text(json.dumps(render.plain(value), sort_keys=True))
    return _text(str(value))


def _changes(title: str, changes: tuple[ValueChange, ...], key: str = "key") -> Table:
    table = _table(title, key, "old", "new")
    for c in changes:
        old = _cell(c.key, c.old, c.state != "added")
        new = _cell(c.key, c.new, c.state != "removed")
        table.add_row(_mark(c.state), _cell("", c.key), old, new)
    return table


def _metrics(metrics: tuple[MetricChange, ...]) -> Table:
    from rich.text import Text

    table = _table("metrics", "metric", "old", "new", "delta", "%")
    for m in metrics:
        delta = Text("") if m.delta is None else Text(f"{m.delta:+.6g}")
        percent = Text("") if m.percent is None else Text(f"{m.percent:+.2f}%")
        old = _cell(m.key, m.old, m.state != "added")
        new = _cell(m.key, m.new, m.state != "removed")
        table.add_row(_mark(m.state), _cell("", m.key), old, new, delta, percent)
    return table


def _print_code(console: Console, code: CodeDiff) -> None:
    from rich.text import Text

    if code.fields:
        _section(console, _changes("code", code.fields))
    if code.stat:
        commits = {c.key: c for c in code.fields}.get("commit")
        span = f" {commits.old}..{commits.new}" if commits is not None else ""
        console.print()
        console.print(_text(f"git diff --stat{span}", style="bold"))
        console.print(Text(render.shown(code.stat, block=True)))
    if code.scripts:
        _section(console, _changes("scripts", code.scripts, key="path"))
    if code.patch_diff:
        console.print()
        console.print(Text("uncommitted patches", style="bold"))
        _print_patch(console, code.patch_diff)


def _record(rec: PathRecord | None) -> Text:
    from rich.text import Text

    if rec is None:
        return Text("")
    return Text(f"{rec.kind} {short(rec.id)} {render.size(rec.size)}")


def _print_paths(console: Console, title: str, paths: tuple[PathChange, ...]) -> None:

    if not paths:
        return
    table = _table(title, "path", "old", "new")
    for change in paths:
        table.add_row(
            _mark(change.state), _text(change.path or "."), _record(change.old), _record(change.new)
        )
        for inner in change.files:
            table.add_row(
                _mark(inner.state),
                _text(f"  {inner.path}", style="dim"),
                _record(inner.old),
                _record(inner.new),
            )
    _section(console, table)
    for change in paths:
        for patched in (change, *change.files):
            if patched.patch:
                console.print()
                _print_patch(console, patched.patch)


def _print_patch(console: Console, patch: str) -> None:
    from rich.text import Text

    text = Text()
    for line in patch.splitlines():
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith(("+", "-")):
            style = "green" if line[0] == "+" else "red"
        else:
            style = ""
        text.append(render.shown(line, block=True) + "\n", style=style)
    console.print(text, soft_wrap=True, end="")


def _print_environment(console: Console, env: EnvironmentDiff) -> None:
    if env.fields:
        _section(console, _changes("environment", env.fields))
    if env.packages:
        _section(console, _changes("packages", env.packages, key="distribution"))


def _print_resources(console: Console, resources: ResourcesDiff) -> None:
    rows = resources.machine + resources.usage
    if rows:
        _section(console, _changes("resources", rows))
