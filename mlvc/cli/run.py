"""`mlvc run -- CMD`: run a command, record it, say what was recorded."""

from __future__ import annotations

import sys
from pathlib import Path

from mlvc.cli import render
from mlvc.ids import short


def run_command(
    command: list[str],
    inputs: list[Path],
    outputs: list[Path],
    params_files: list[Path],
    metrics_files: list[Path],
    message: str,
    tags: list[str],
    json: bool,
    trace: str | None = None,
) -> int:
    import os

    from mlvc.capture.request import RunRequest
    from mlvc.porcelain.run import run
    from mlvc.repo import Repo

    if not command:
        from mlvc.errors import MlvcError

        raise MlvcError("no command given", hint="put the command after '--': mlvc run -- CMD")
    if trace is not None:
        _check_trace(trace)
    cwd = Path.cwd()
    repo = Repo.discover(cwd)
    request = RunRequest(
        argv=command,
        cwd=cwd,
        env=dict(os.environ),
        inputs=inputs,
        outputs=outputs,
        params_files=params_files,
        metrics_files=metrics_files,
        message=message,
        tags=tuple(tags),
        # With --json, stdout carries the JSON: the command's own output goes to stderr.
        terminal=(2, 2) if json else (1, 2),
        trace=trace,
    )
    try:
        result = run(repo, request)
    finally:
        repo.close()
    if json:
        render.emit_json(result)
    else:
        render.warn_skipped(result.skipped)
        for note in result.warnings:
            sys.stderr.write(f"warning: {render.shown(note)}\n")
        sys.stderr.write(
            f"mlvc: run {short(result.run_id)} {result.status} · {result.inputs} inputs"
            f" · {result.outputs} outputs · {result.wall_seconds:.2f} s\n"
        )
    return result.exit_code


def _check_trace(trace: str) -> None:
    from mlvc.config import TRACE_MODES

    if trace not in TRACE_MODES:
        from mlvc.errors import MlvcError

        raise MlvcError(
            f"unknown capture mode {trace!r}",
            hint=f"use --trace={' or --trace='.join(TRACE_MODES)}",
        )
