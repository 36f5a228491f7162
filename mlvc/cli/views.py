"""Command bodies shared by the typer application and the fast path."""

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
        render.emit_json(
            {"clean": result.clean, "tracked": result.tracked, "changes": result.changes}
        )
        return
    if result.tracked == 0:
        sys.stdout.write("nothing tracked yet (use 'mlvc add PATH')\n")
    elif result.clean:
        sys.stdout.write(f"clean: {result.tracked} tracked files unchanged\n")
    else:
        colors = {"modified": "yellow", "deleted": "red", "new": "green"}
        console = render.out()
        for change in result.changes:
            color = colors[change.state]
            console.print(f"[{color}]{change.state:>9}:[/{color}] {change.path}")
        console.print("hint: 'mlvc add PATH' records the new versions", style="dim")
