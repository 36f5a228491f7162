"""Rendering one run for people: rich panels and tables."""

from __future__ import annotations

import shlex
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from mlvc.cli.render import size


def _short(value: Any) -> str:
    return value.hex()[:12] if isinstance(value, bytes) else "-" if value is None else str(value)


def _paths(title: str, records: dict[str, Any], producer: bool) -> Table:
    table = Table(title=title, title_justify="left", expand=True)
    table.add_column("path")
    table.add_column("kind")
    table.add_column("id")
    table.add_column("size", justify="right")
    if producer:
        table.add_column("produced by")
    for path, rec in sorted(records.items()):
        row = [path, rec["kind"], _short(rec["id"]), size(rec["size"])]
        if producer:
            row.append(_short(rec["producer_run"]))
        table.add_row(*row)
    return table


def _plain(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "null"
    return str(value)


def _pairs(title: str, values: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left", expand=True)
    table.add_column("key")
    table.add_column("value")
    for key, value in sorted(values.items()):
        table.add_row(key, _short(value) if isinstance(value, bytes) else _plain(value))
    return table


def print_run(console: Console, oid: bytes, run: dict[str, Any]) -> None:
    status_color = {"ok": "green", "failed": "red", "interrupted": "yellow"}.get(run["status"], "")
    owner, code, res = run["owner"], run["code"], run["resources"]
    snapshot = run["kind"] == "snapshot"
    exit_note = "" if run["exit_code"] is None else f" (exit {run['exit_code']})"
    head = [
        f"[bold]{run['kind']}[/bold] {oid.hex()}",
        f"status  [{status_color}]{run['status']}[/{status_color}]{exit_note}",
        f"command {shlex.join(run['command'])}   (in {run['cwd']})",
        f"time    {run['started']} → {run['ended']}",
        f"owner   {owner.get('user')}@{owner.get('host')}"
        + (
            f"  git: {owner.get('git_name')} <{owner.get('git_email')}>"
            if owner.get("git_name")
            else ""
        ),
    ]
    if code.get("git"):
        head.append(
            f"code    {code.get('commit') or '(no commit)'} on {code.get('branch') or 'detached'}"
            + (
                "  [yellow]dirty[/yellow] patch " + _short(code.get("patch"))
                if code.get("dirty")
                else "  clean"
            )
        )
    elif "git" in code:
        head.append("code    not in a git repository")
    if run["message"]:
        head.append(f"message {run['message']}")
    parts: list[Any] = [Panel("\n".join(head), title="run")]
    if run["inputs"]:
        parts.append(_paths("inputs", run["inputs"], producer=True))
    if run["outputs"]:
        parts.append(_paths("outputs", run["outputs"], producer=False))
    if run["removed"]:
        parts.append("removed: " + ", ".join(run["removed"]))
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
        f"python  {python.get('version', '-')} {python.get('executable', '')}",
        f"modules {len(env.get('modules', {}))} imported from "
        f"{env.get('distribution_count', 0)} installed distributions",
        f"machine {res.get('host')} · {res.get('cpu_model')} × {res.get('cpu_count')} · "
        f"{size(res.get('memory_bytes') or 0)} RAM",
        f"usage   wall {res.get('wall_seconds', 0):.2f} s · user {res.get('user_seconds', 0):.2f} s"
        f" · sys {res.get('system_seconds', 0):.2f} s"
        f" · peak RSS {size(res.get('peak_rss_bytes') or 0)}",
    ]
    parts.append(Panel("\n".join(lines), title="environment and resources"))
    console.print(Group(*parts))
