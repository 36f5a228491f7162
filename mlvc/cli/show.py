"""`mlvc show [RUN | PATH | PATH@RUN]`: the whole record of one run, or one version of a
path."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlvc.cli import render
from mlvc.cli.render import Segment, shown, size, styled
from mlvc.ids import short

if TYPE_CHECKING:  # rich: ~30 ms, only when a run is shown as text (not with --json)
    from rich.console import Console
    from rich.table import Table


def show_run(ref: str | None, json: bool) -> None:
    from mlvc.porcelain.show import show
    from mlvc.repo import Repo

    cwd = Path.cwd()
    repo = Repo.discover(cwd)
    try:
        result = show(repo, ref, cwd)
    finally:
        repo.close()
    if json:
        from mlvc.encode import show_json

        render.emit_json(show_json(result))
    elif result.version is not None:
        _print_version(render.out(), result.id, result.run, result.version)
    else:
        print_run(render.out(), result.id, result.run)


def _print_version(console: Console, oid: bytes, run: dict[str, Any], version: Any) -> None:
    """One version of a path: what it is, the run that wrote (or read) it, what is in it."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    verb = "written by" if version.side == "output" else "read by"
    content = "" if version.id is None else f" {short(version.id)}"
    head: list[list[Segment]] = [
        [(version.kind, "bold"), (f"{content} {shown(version.path)}  {size(version.size)}", None)],
        [(f"{verb} {run['kind']} {short(oid)}  {shlex.join(run['command'])}", None)],
        [(f"time    {run['started']}", None)],
    ]
    parts: list[Any] = [Panel(Text("\n").join(styled(line) for line in head), title="version")]
    if version.files:
        title = "files written in it" if version.kind == "dir" else "files"
        parts.append(_paths(title, {k: v.to_value() for k, v in version.files.items()}, False))
    console.print(Group(*parts))


def _short(value: Any) -> str:
    if isinstance(value, bytes):
        return short(value)
    return "-" if value is None else shown(value)


def _paths(title: str, records: dict[str, Any], producer: bool) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left", expand=True)
    table.add_column("path")
    table.add_column("kind")
    table.add_column("id")
    table.add_column("size", justify="right")
    if producer:
        table.add_column("produced by")
    for path, rec in sorted(records.items()):
        row = [shown(path), shown(rec["kind"]), _short(rec["id"]), size(rec["size"])]
        if producer:
            row.append(_short(rec["producer_run"]))
        table.add_row(*row)
    return table


def _plain(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "null"
    return shown(value)


def _pairs(title: str, values: dict[str, Any]) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left", expand=True)
    table.add_column("key")
    table.add_column("value")
    for key, value in sorted(values.items()):
        table.add_row(shown(key), _short(value) if isinstance(value, bytes) else _plain(value))
    return table


def _head(oid: bytes, run: dict[str, Any]) -> list[list[Segment]]:
    """The run panel's lines: kind and id, status, command, times, owner, code, message."""
    status_color = {"ok": "green", "failed": "red", "interrupted": "yellow"}.get(run["status"])
    owner, code = run["owner"], run["code"]
    exit_note = "" if run["exit_code"] is None else f" (exit {run['exit_code']})"
    git_owner = f"  git: {owner.get('git_name')} <{owner.get('git_email')}>"
    head: list[list[Segment]] = [
        [(run["kind"], "bold"), (f" {oid.hex()}", None)],
        [("status  ", None), (run["status"], status_color), (exit_note, None)],
        [(f"command {shlex.join(run['command'])}   (in {run['cwd']})", None)],
        [(f"time    {run['started']} → {run['ended']}", None)],
        [
            (f"owner   {owner.get('user')}@{owner.get('host')}", None),
            (git_owner if owner.get("git_name") else "", None),
        ],
    ]
    if code.get("git"):
        where = (
            f"code    {code.get('commit') or '(no commit)'} on {code.get('branch') or 'detached'}"
        )
        dirty: list[Segment] = [("  ", None), ("dirty", "yellow"), (" patch ", None)]
        dirty.append((_short(code.get("patch")), None))
        head.append([(where, None), *(dirty if code.get("dirty") else [("  clean", None)])])
    elif "git" in code:
        head.append([("code    not in a git repository", None)])
    if run["message"]:
        head.append([(f"message {run['message']}", None)])
    return head


def print_run(console: Console, oid: bytes, run: dict[str, Any]) -> None:
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    res = run["resources"]
    snapshot = run["kind"] == "snapshot"
    head = Text("\n").join(styled(line) for line in _head(oid, run))
    parts: list[Any] = [Panel(head, title="run")]
    if run["inputs"]:
        parts.append(_paths("inputs", run["inputs"], producer=True))
    if run["outputs"]:
        parts.append(_paths("outputs", run["outputs"], producer=False))
    if run["removed"]:
        parts.append("removed: " + ", ".join(shown(p) for p in run["removed"]))
    if run["params"]:
        parts.append(_pairs("params", run["params"]))
    if run["metrics"]:
        parts.append(_pairs("metrics", run["metrics"]))
    if snapshot:
        console.print(Group(*parts))
        return
    env = run["environment"]
    python = env.get("python", {})
    lines = [
        f"python  {python.get('version', '-')} {shown(python.get('executable', ''))}",
        f"modules {len(env.get('modules', {}))} imported from "
        f"{env.get('distribution_count', 0)} installed distributions",
        f"machine {res.get('host')} · {res.get('cpu_model')} × {res.get('cpu_count')} · "
        f"{size(res.get('memory_bytes') or 0)} RAM",
        f"usage   wall {res.get('wall_seconds', 0):.2f} s · user {res.get('user_seconds', 0):.2f} s"
        f" · sys {res.get('system_seconds', 0):.2f} s"
        f" · peak RSS {size(res.get('peak_rss_bytes') or 0)}",
        *_capture_lines(env.get("capture")),
    ]
    parts.append(Panel(shown("\n".join(lines), block=True), title="environment and resources"))
    console.print(Group(*parts))


def _capture_lines(capture: Any) -> list[str]:
    """Which mode captured the run's file access, and what it could not see (absent in
    runs recorded before capture modes)."""
    if not isinstance(capture, dict):
        return []
    overlapped = " · overlapped another run" if capture.get("overlapped") else ""
    lines = [f"capture {capture.get('mode', '-')}{overlapped}"]
    notes = capture.get("notes")
    lines += (
        [f"        {note}" for note in notes if isinstance(note, str)]
        if isinstance(notes, list)
        else []
    )
    return lines
