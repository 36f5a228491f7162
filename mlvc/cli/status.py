"""`mlvc status`: what changed in the workspace since it was recorded."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

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
        from mlvc.encode import status_json

        render.emit_json(status_json(result))
        return
    render.warn_skipped(result.skipped)
    if result.tracked == 0:
        sys.stdout.write("nothing tracked yet (use 'mlvc add PATH')\n")
    elif result.clean:
        sys.stdout.write(f"clean: {result.tracked} tracked files unchanged\n")
    else:
        colors = {"modified": "yellow", "deleted": "red", "new": "green", "recorded": "cyan"}
        lines: list[list[render.Segment]] = [
            [(f"{c.state:>9}:", colors[c.state]), (f" {c.path}", None)] for c in result.changes
        ]
        lines += [[(f"hint: {hint}", "dim")] for hint in _hints(result)]
        render.print_lines(lines)
    if result.stale:
        render.print_lines(_stale_lines(result.stale))


def _stale_lines(stale: Any) -> list[list[render.Segment]]:
    from mlvc.ids import short

    lines: list[list[render.Segment]] = [[("stale runs:", "bold")]]
    for step in stale:
        command = " ".join(step.key[0])
        lines.append([(f"  {short(step.run_id)}", "yellow"), (f" {command}", None)])
        lines += [[(f"      {reason}", "dim")] for reason in step.reasons]
    lines.append([("hint: 'mlvc rerun' re-executes them, upstream first", "dim")])
    return lines


def _hints(result: Any) -> list[str]:
    """What to do next, for the states shown only."""
    states = {c.state for c in result.changes}
    hints = []
    if states & {"modified", "new", "deleted"}:
        hints.append("'mlvc add PATH' records the new versions (or the deletion)")
    if "deleted" in states:
        hints.append("'mlvc rm PATH' stops tracking a deleted path")
    if "recorded" in states:
        hints.append(
            "recorded: a run wrote this content here, but it is not part of the checked-out"
            " state; 'mlvc checkout --clean RUN' removes such files"
        )
    hints += [
        f"{path} is ignored but still tracked: 'mlvc rm --cached {path}' stops tracking it"
        for path in result.ignored
    ]
    return hints
