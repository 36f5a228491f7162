"""`mlvc add`: store paths as a snapshot run, and say what changed."""

from __future__ import annotations

from pathlib import Path

from mlvc.cli import environ, render
from mlvc.ids import short


def add_command(paths: list[Path], message: str, json: bool) -> None:
    from mlvc.porcelain.add import add

    cwd = Path.cwd()
    progress = render.Bytes("Adding")
    result = environ.with_repo(
        lambda repo: add(repo, paths, cwd, environ.owner(), message, progress), progress
    )
    if json:
        render.emit_json(result)
        return
    render.warn_skipped(result.skipped)
    lines: list[list[render.Segment]] = []
    for p in result.paths:
        if p.id is None:
            lines.append([(f"{'removed':9} {p.path}", None)])
            continue
        state = "added" if p.changed else "unchanged"
        kind = "dir " if p.kind == "tree" else ""
        lines.append([(f"{state:9} {kind}{p.path}  {short(p.id)}  {render.size(p.size)}", None)])
    if result.run_id is not None:
        lines.append([(f"snapshot {short(result.run_id)} ({result.files} files)", None)])
    else:
        lines.append([("nothing changed; no snapshot recorded", None)])
    render.print_lines(lines)
