"""`mlvc status`: what changed in the workspace since it was recorded."""

from __future__ import annotations

import sys
from pathlib import Path

from mlvc.cli import render


def show_status(json: bool) -> None:
    from mlvc.porcelain.status import status
    from mlvc.repo import Repo

    repo = Repo.discover(Path.cwd())
    try:
        result = status(repo)
    finally:
        repo.close()
    if json:
        changes = [{"path": c.path, "state": c.state} for c in result.changes]
        render.emit_json(
            {
                "clean": result.clean,
                "tracked": result.tracked,
                "changes": changes,
                "skipped": result.skipped,
            }
        )
        return
    render.warn_skipped(result.skipped)
    if result.tracked == 0:
        sys.stdout.write("nothing tracked yet (use 'mlvc add PATH')\n")
    elif result.clean:
        sys.stdout.write(f"clean: {result.tracked} tracked files unchanged\n")
    else:
        colors = {"modified": "yellow", "deleted": "red", "new": "green"}
        lines: list[list[render.Segment]] = [
            [(f"{c.state:>9}:", colors[c.state]), (f" {c.path}", None)] for c in result.changes
        ]
        lines.append([("hint: 'mlvc add PATH' records the new versions", "dim")])
        render.print_lines(lines)
