"""`mlvc init`: create the .mlvc store."""

from __future__ import annotations

from pathlib import Path

from mlvc.cli import render


def init_command(path: Path, json: bool) -> None:
    from mlvc.porcelain.init import init as do_init

    result = do_init(Path.cwd() / path)
    if json:
        render.emit_json(result)
        return
    render.print_lines([[(f"Initialized empty mlvc repository in {result.store}", None)]])
    if not result.git:
        render.err().print("hint: not inside a git repository; runs will record no code commit")
