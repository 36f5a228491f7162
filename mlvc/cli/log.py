"""`mlvc log [PATH]`: runs newest first, or every version of one path."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from mlvc.cli import environ, render
from mlvc.encode import runs_json, versions_json
from mlvc.ids import short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mlvc.repo import Repo


def log_command(
    paths: list[str],
    number: int | None,
    oneline: bool,
    since: str | None,
    owner: str | None,
    all_runs: bool,
    consumers: bool,
    json: bool,
    table: bool = False,
    where: list[str] | None = None,
    command: str | None = None,
    sort: str | None = None,
    reverse: bool = False,
    csv: bool = False,
    skip: int = 0,
) -> None:
    from mlvc.errors import MlvcError
    from mlvc.paths import check_text

    if table:
        if oneline or consumers:
            raise MlvcError(
                f"--table cannot be combined with {'--oneline' if oneline else '--consumers'}",
                hint="a table has one row per run already; leave the option out",
            )
        from mlvc.cli.runs import runs_command

        runs_command(
            paths, where, command, sort, reverse, number, since, owner, all_runs, json, csv
        )
        return
    path = _one_path(paths, where, command, sort, reverse, csv)
    for what, text in (("path", path), ("owner", owner), ("date", since)):
        if text is not None:
            check_text(text, what)
    repo = environ.repo()
    try:
        if path is not None:
            _log_path(repo, path, consumers, all_runs, skip, number, json, oneline)
            return
        from mlvc.lineage.log import log_runs

        runs = log_runs(repo, number, since, owner, all_runs, skip)
    finally:
        repo.close()
    if json:
        render.emit_json(runs_json(runs))
    else:
        _print_runs(runs, oneline)


def _one_path(
    paths: list[str],
    where: list[str] | None,
    command: str | None,
    sort: str | None,
    reverse: bool,
    csv: bool,
) -> str | None:
    """The PATH of a plain log (None: every run), once no table-only option is given."""
    from mlvc.errors import MlvcError

    table_only = {"--where": where, "--command": command, "--sort": sort, "--reverse": reverse}
    table_only["--csv"] = csv
    given = [name for name, value in table_only.items() if value]
    if given:
        raise MlvcError(f"{given[0]} needs --table", hint=f"mlvc log --table {given[0]} ...")
    if len(paths) > 1:
        raise MlvcError(
            "log takes one PATH", hint="to compare the runs of several, use mlvc log --table"
        )
    return paths[0] if paths else None


def _log_path(
    repo: Repo,
    path: str,
    consumers: bool,
    all_runs: bool,
    skip: int,
    number: int | None,
    json: bool,
    oneline: bool,
) -> None:
    """`mlvc log PATH`: every recorded version of the path, newest first."""
    from mlvc.errors import MlvcError
    from mlvc.lineage.log import log_path

    rel = repo.relpath(Path(path), Path.cwd()) or path
    versions = log_path(repo, rel, consumers, all_runs)[skip:][:number]
    if not versions:
        raise MlvcError(
            f"no recorded version of {rel}",
            hint="mlvc records paths that runs write or 'mlvc add' adds",
        )
    if json:
        render.emit_json(versions_json(rel, versions))
    else:
        _print_versions(versions, oneline)


_ROLES = {"safety": "safety snapshot"}
_VERDICTS = {"identical": "green", "differs": "red"}


def _print_runs(runs: list[Any], oneline: bool) -> None:
    """git-log-like: a header per run, the message indented below (its lines kept)."""
    colors = {"ok": "green", "failed": "red", "interrupted": "yellow"}
    lines: list[list[render.Segment]] = []
    for run in runs:
        tags = [(f" ({', '.join(run.tags)})", "cyan")] if run.tags else []
        command = shlex.join(run.command)
        if oneline:
            role = [(f" [{_ROLES[run.role]}]", "dim")] if run.role in _ROLES else []
            lines.append([(short(run.id), "yellow"), *tags, *role, (f" {command}", None)])
            continue
        exit_note = f" (exit {run.exit_code})" if run.exit_code is not None else ""
        lines += [
            [(f"{_ROLES.get(run.role, run.kind)} {run.id.hex()}", "yellow"), *tags],
            [("Status:  ", None), (run.status, colors.get(run.status)), (exit_note, None)],
            [(f"Owner:   {run.owner}", None)],
            [(f"Date:    {render.when(run.started)}", None)],
            [(f"Command: {command}", None)],
        ]
        lines += [
            [("Reproduced: ", None), (r.verdict, _VERDICTS[r.verdict]), (f" ({short(r.id)})", None)]
            for r in run.reproductions
        ]
        if run.metrics:
            first = list(run.metrics.items())[:6]
            lines.append([("Metrics: " + "  ".join(f"{k}={v:.6g}" for k, v in first), None)])
        if run.message:
            lines.append([])
            lines += [[(f"    {line}", None)] for line in run.message.split("\n")]
        lines.append([])
    render.print_lines(lines)


def _print_versions(versions: list[Any], oneline: bool) -> None:
    readers = any(v.consumers for v in versions)
    header = ["content", "kind", "size", "change", "run", "date", "owner", "commit"]
    if readers:
        header.append("read by")
    rows = []
    for v in versions:
        row = [
            short(v.id) if v.id else "-" if v.kind == "dir" else "(removed)",
            v.kind,
            render.size(v.size),
            _change(v, v is versions[-1]),
            f"{v.run_kind} {short(v.run)}",
            render.when(v.started)[:16],
            v.owner,
            (v.commit or "-")[:10],
        ]
        if readers:
            row.append(", ".join(short(c) for c in v.consumers) or "-")
        rows.append(row)
    if oneline:
        render.print_lines([[("  ".join(row[:1] + row[4:6]), None)] for row in rows])
        return
    render.columns(f"versions of {versions[0].path}", header, rows, right={2})


def _change(v: Any, oldest: bool) -> str:
    if v.kind == "dir":
        count = len(v.modified)
        return f"{count} file{'s' if count != 1 else ''} written"
    parts = []
    if v.size_delta is not None:
        parts.append(f"{v.size_delta:+,} B")
    if v.added or v.removed or v.modified:
        parts.append(f"+{len(v.added)} -{len(v.removed)} ~{len(v.modified)} files")
    return ", ".join(parts) or ("first" if oldest else "-")
