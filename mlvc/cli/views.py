"""Command bodies shared by the typer application and the fast path."""

from __future__ import annotations

import sys
from pathlib import Path

from mlvc.cli import render


def owner() -> dict[str, str]:
    """Who runs the command: recorded on every snapshot."""
    import os

    from mlvc.capture.owner import local_owner

    return local_owner(os.environ)


def add_command(paths: list[Path], message: str, json: bool) -> None:
    from mlvc.porcelain.add import add
    from mlvc.repo import Repo

    repo = Repo.discover(Path.cwd())
    progress = render.Bytes("Adding")
    try:
        result = add(repo, paths, Path.cwd(), owner(), message, progress)
    finally:
        progress.close()
        repo.close()
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
        lines.append(
            [(f"{state:9} {kind}{p.path}  {p.id.hex()[:12]}  {render.size(p.size)}", None)]
        )
    if result.run_id is not None:
        lines.append([(f"snapshot {result.run_id.hex()[:12]} ({result.files} files)", None)])
    else:
        lines.append([("nothing changed; no snapshot recorded", None)])
    render.print_lines(lines)


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


def run_command(
    command: list[str],
    inputs: list[Path],
    outputs: list[Path],
    params_files: list[Path],
    metrics_files: list[Path],
    message: str,
    tags: list[str],
    json: bool,
) -> int:
    import os

    from mlvc.capture.request import RunRequest
    from mlvc.porcelain.run import run
    from mlvc.repo import Repo

    if not command:
        from mlvc.errors import MlvcError

        raise MlvcError("no command given", hint="put the command after '--': mlvc run -- CMD")
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
    )
    try:
        result = run(repo, request)
    finally:
        repo.close()
    if json:
        render.emit_json(result)
    else:
        render.warn_skipped(result.skipped)
        sys.stderr.write(
            f"mlvc: run {result.run_id.hex()[:12]} {result.status} · {result.inputs} inputs"
            f" · {result.outputs} outputs · {result.wall_seconds:.2f} s\n"
        )
    return result.exit_code


def show_run(ref: str, json: bool) -> None:
    from mlvc.porcelain.show import show
    from mlvc.repo import Repo

    repo = Repo.discover(Path.cwd())
    try:
        result = show(repo, ref)
    finally:
        repo.close()
    if json:
        render.emit_json({"id": result.id, **result.run})
        return
    from mlvc.cli.runview import print_run

    print_run(render.out(), result.id, result.run)
