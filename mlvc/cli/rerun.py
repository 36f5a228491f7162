"""`mlvc rerun [TARGET...]`: re-execute the stale steps, upstream first."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

from mlvc.cli import render
from mlvc.ids import short


def rerun_command(
    targets: list[str], dry_run: bool, force: bool, json: bool, every: bool = False
) -> int:
    from mlvc.errors import MlvcError
    from mlvc.porcelain.rerun import RerunRequest, rerun
    from mlvc.repo import Repo

    if every and targets:
        raise MlvcError(
            "--all reruns every stale step and takes no target",
            hint="run 'mlvc rerun --all', or name the targets without --all",
        )
    repo = Repo.discover(Path.cwd())
    request = RerunRequest(
        targets=tuple(targets),
        env=dict(os.environ),
        dry_run=dry_run,
        force=force,
        # With --json, stdout carries the JSON: the commands' own output goes to stderr.
        terminal=(2, 2) if json else (1, 2),
    )
    try:
        result = rerun(repo, request, None if json else _starting)
    finally:
        repo.close()
    if json:
        render.emit_json(result)
    elif not result.steps:
        sys.stdout.write("nothing to rerun: every step is up to date\n")
    elif dry_run:
        for step in result.steps:
            sys.stdout.write(f"would rerun {short(step.run)}: {_command(step)}\n")
            for reason in step.reasons:
                sys.stdout.write(f"    {render.shown(reason)}\n")
    else:
        for step in result.steps:
            new = short(step.new_run) if step.new_run is not None else "-"
            sys.stdout.write(f"{short(step.run)} -> {new} exit {step.exit_code}\n")
    return result.exit_code


def _starting(step: Any) -> None:
    sys.stderr.write(f"mlvc: rerunning {short(step.run)} ({_command(step)})\n")
    sys.stderr.flush()


def _command(step: Any) -> str:
    return render.shown(shlex.join(step.command))
