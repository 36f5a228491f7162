"""Rendering `mlvc log`, `mlvc tag` and `mlvc index rebuild`."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

from mlvc.cli import render


def _repo() -> Any:
    from mlvc.repo import Repo

    return Repo.discover(Path.cwd())


def _when(iso: str) -> str:
    return iso.replace("T", " ")[:19]


def log_command(
    path: str | None,
    number: int | None,
    oneline: bool,
    since: str | None,
    owner: str | None,
    all_runs: bool,
    consumers: bool,
    json: bool,
) -> None:
    from mlvc.paths import check_text

    for what, text in (("path", path), ("owner", owner), ("date", since)):
        if text is not None:
            check_text(text, what)
    repo = _repo()
    try:
        if path is not None:
            from mlvc.lineage.log import log_path

            rel = repo.relpath(Path(path), Path.cwd()) or path
            versions = log_path(repo, rel, consumers)[:number]
            if not versions:
                from mlvc.errors import MlvcError

                raise MlvcError(
                    f"no recorded version of {rel}",
                    hint="mlvc records paths that runs write or 'mlvc add' adds",
                )
            if json:
                render.emit_json({"path": rel, "versions": versions})
            else:
                _print_versions(versions, oneline)
            return
        from mlvc.lineage.log import log_runs

        runs = log_runs(repo, number, since, owner, all_runs)
    finally:
        repo.close()
    if json:
        render.emit_json({"runs": runs})
    else:
        _print_runs(runs, oneline)


def _print_runs(runs: list[Any], oneline: bool) -> None:
    """git-log-like: a header per run, the message indented below (its lines kept)."""
    colors = {"ok": "green", "failed": "red", "interrupted": "yellow"}
    lines: list[list[render.Segment]] = []
    for run in runs:
        tags = [(f" ({', '.join(run.tags)})", "cyan")] if run.tags else []
        command = shlex.join(run.command)
        if oneline:
            lines.append([(run.id.hex()[:12], "yellow"), *tags, (f" {command}", None)])
            continue
        exit_note = f" (exit {run.exit_code})" if run.exit_code is not None else ""
        lines += [
            [(f"{run.kind} {run.id.hex()}", "yellow"), *tags],
            [("Status:  ", None), (run.status, colors.get(run.status)), (exit_note, None)],
            [(f"Owner:   {run.owner}", None)],
            [(f"Date:    {_when(run.started)}", None)],
            [(f"Command: {command}", None)],
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
            v.id.hex()[:12] if v.id else "-" if v.kind == "dir" else "(removed)",
            v.kind,
            render.size(v.size),
            _change(v),
            f"{v.run_kind} {v.run.hex()[:12]}",
            _when(v.started)[:16],
            v.owner,
            (v.commit or "-")[:10],
        ]
        if readers:
            row.append(", ".join(c.hex()[:12] for c in v.consumers) or "-")
        rows.append(row)
    if oneline:
        render.print_lines([[("  ".join(row[:1] + row[4:6]), None)] for row in rows])
        return
    render.columns(f"versions of {versions[0].path}", header, rows, right={2})


def _change(v: Any) -> str:
    if v.kind == "dir":
        count = len(v.modified)
        return f"{count} file{'s' if count != 1 else ''} written"
    parts = []
    if v.size_delta is not None:
        parts.append(f"{v.size_delta:+,} B")
    if v.added or v.removed or v.modified:
        parts.append(f"+{len(v.added)} -{len(v.removed)} ~{len(v.modified)} files")
    return ", ".join(parts) or "first"


def tag_command(
    name: str | None,
    run_ref: str | None,
    delete: bool,
    history: bool,
    message: str,
    json: bool,
) -> None:
    from mlvc import clock
    from mlvc.errors import MlvcError
    from mlvc.lineage.resolve import resolve_run
    from mlvc.refs import Tags

    repo = _repo()
    try:
        tags = Tags(repo.dir)
        if name is None:
            listing = {n: tags.get(n) for n in tags.names()}
            if json:
                render.emit_json({"tags": listing})
            else:
                for n, oid in listing.items():
                    sys.stdout.write(f"{render.shown(n)}\t{oid.hex() if oid else '-'}\n")
            return
        if history:
            moves = tags.history(name)
            if json:
                render.emit_json({"tag": name, "history": moves})
                return
            lines: list[list[render.Segment]] = []
            for m in moves:
                old = m.old.hex()[:12] if m.old else "(new)"
                new = m.new.hex()[:12] if m.new else "(deleted)"
                note = f"  {m.message}" if m.message else ""
                lines.append([(f"{_when(m.time)}  {m.user}  {old} -> {new}{note}", None)])
            render.print_lines(lines)
            return
        current = tags.get(name)
        from mlvc.capture.owner import os_user

        user = os_user(os.environ)
        if delete:
            if current is None:
                raise MlvcError(f"tag {name} does not exist", hint="'mlvc tag' lists tags")
            move = tags.move(name, None, current, user, clock.now(), message)
        else:
            target = resolve_run(repo, run_ref or "latest")
            move = tags.move(name, target, current, user, clock.now(), message)
    finally:
        repo.close()
    if json:
        render.emit_json({"tag": name, "move": move})
    elif move.new is None:
        sys.stdout.write(
            f"deleted tag {render.shown(name)} (was {move.old.hex()[:12] if move.old else '-'})\n"
        )
    else:
        was = f" (was {move.old.hex()[:12]})" if move.old else ""
        sys.stdout.write(f"tag {render.shown(name)} -> {move.new.hex()[:12]}{was}\n")


def rebuild_command(json: bool) -> None:
    from mlvc.lineage.rebuild import rebuild

    repo = _repo()
    try:
        result = rebuild(repo)
    finally:
        repo.close()
    if json:
        render.emit_json(result)
        return
    sys.stdout.write(
        f"rebuilt the index: {result.packs} packs, {result.objects} objects, {result.runs} runs\n"
    )
    for name in result.skipped_packs:
        sys.stderr.write(f"warning: skipped corrupt pack {name}\n")
