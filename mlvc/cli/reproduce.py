"""`mlvc reproduce RUN`: re-execute a run and compare it bit for bit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlvc.cli import environ, render
from mlvc.ids import short

LISTED = 40  # changes listed one per line; more are summarised by kind


def reproduce_command(ref: str, in_place: bool, keep: bool, json: bool) -> int:
    import shlex
    import sys
    import tempfile

    from mlvc.lineage.resolve import load_run, resolve_run
    from mlvc.porcelain.reproduce import ReproduceRequest, reproduce
    from mlvc.repo import Repo

    repo = Repo.discover(Path.cwd())
    try:
        run_id = resolve_run(repo, ref)
        command = shlex.join(load_run(repo, run_id).command)
        where = "in place" if in_place else "in a scratch workspace"
        shown = render.shown(command)
        sys.stderr.write(f"mlvc: reproducing {short(run_id)} ({shown}) {where}\n")
        request = ReproduceRequest(
            run_id=run_id,
            env=dict(os.environ),
            scratch=Path(tempfile.gettempdir()),
            in_place=in_place,
            keep=keep,
            terminal=(2, 2) if json else (1, 2),
            owner=environ.owner(),
        )
        result = reproduce(repo, request)
    finally:
        repo.close()
    if json:
        render.emit_json({**render.plain(result), "identical": result.identical})
    else:
        show_reproduce(result)
    return 0 if result.identical else 1


def show_reproduce(result: Any) -> None:
    from rich.table import Table

    console = render.out()
    for line in result.environment:
        console.print(
            render.styled([("warning:", "yellow"), (f" environment differs: {line}", None)])
        )
    colors = {"identical": "green", "differs": "red", "missing": "red", "new": "yellow"}
    table = Table(title="outputs", title_justify="left")
    for name in ("path", "verdict", "original", "reproduced"):
        table.add_column(name)
    for check in result.outputs:
        old = short(check.old) if check.old else "-"
        new = short(check.new) if check.new else "-"
        verdict = render.styled([(check.verdict, colors[check.verdict])])
        table.add_row(render.shown(check.path), verdict, old, new)
        for f in check.files[:LISTED]:
            table.add_row(render.shown(f"  {f}"), render.styled([("differs", "red")]), "", "")
    console.print(table)
    for check in result.outputs:
        if check.reason:
            console.print(render.styled([(f"{check.path}: ", "bold"), (check.reason, None)]))
    for cause in result.causes:
        console.print(render.styled([("why: ", "yellow"), (cause, None)]))
    for key, (old, new) in result.metrics.items():
        delta = ""
        if isinstance(old, int | float) and isinstance(new, int | float):
            delta = f" ({new - old:+.6g})"
        console.print(render.styled([(f"metric {key}: {old} -> {new}{delta}", None)]))
    if result.exit_code != result.original_exit_code:
        note = f", the original exited {result.original_exit_code}"
        console.print(render.styled([(f"exit code {result.exit_code}", "red"), (note, None)]))
    if result.workspace is not None:
        console.print(render.styled([(f"scratch workspace kept at {result.workspace}", None)]))
    outcome: render.Segment = ("identical", None) if result.identical else ("differs", "red")
    console.print(render.styled([(f"reproduced as run {short(result.run_id)}: ", None), outcome]))
