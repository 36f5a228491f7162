"""`mlvc rm`: stop tracking paths, and delete their files unless `--cached`."""

from __future__ import annotations

from pathlib import Path

from mlvc.cli import environ, render


def rm_command(paths: list[Path], cached: bool, force: bool, json: bool) -> None:
    from mlvc.porcelain.rm import rm

    cwd = Path.cwd()
    result = environ.with_repo(lambda repo: rm(repo, paths, cwd, cached, force))
    if json:
        render.emit_json(result)
        return
    deleted = set(result.deleted)
    lines: list[list[render.Segment]] = [
        [(f"{'deleted' if path in deleted else 'untracked':9} {path}", None)]
        for path in result.untracked
    ]
    lines.append([("hint: their recorded versions stay in history ('mlvc log PATH')", "dim")])
    render.print_lines(lines)
