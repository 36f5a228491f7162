"""`mlvc graph --steps`: the pipeline inferred from history, as text or JSON."""

from __future__ import annotations

import shlex
import sys
from typing import TYPE_CHECKING

from mlvc.cli import environ, render
from mlvc.ids import short

if TYPE_CHECKING:
    from mlvc.lineage.pipeline import PipelineResult, PipelineStep


def show_pipeline(json: bool) -> None:
    from mlvc.lineage.pipeline import pipeline

    result = environ.with_repo(pipeline)
    if json:
        from mlvc.encode import pipeline_json

        render.emit_json(pipeline_json(result))
    elif not result.steps:
        sys.stdout.write("no steps recorded yet (mlvc run -- CMD records one)\n")
    else:
        render.print_lines(_lines(result))


def _lines(result: PipelineResult) -> list[list[render.Segment]]:
    """Each step upstream first: what it reads from which step, why it is stale."""
    by_id = {step.id: step for step in result.steps}
    stale = sum(step.stale for step in result.steps)
    lines: list[list[render.Segment]] = [
        [(f"{len(result.steps)} steps, {stale} stale, upstream first", "bold")]
    ]
    for step in result.steps:
        where = "" if step.cwd == "." else f" (in {step.cwd})"
        mark: list[render.Segment] = [("  stale", "red")] if step.stale else []
        lines.append(
            [
                (f"step {step.id}", "yellow"),
                (f" {_command(step)}{where}", "bold"),
                (f"  run {short(step.latest_run)}", "dim"),
                *mark,
            ]
        )
        for edge in (e for e in result.edges if e.target == step.id):
            source = by_id[edge.source]
            lines.append(
                [
                    ("    <- ", "dim"),
                    (", ".join(edge.paths), "cyan"),
                    (f" from {_command(source)}", None),
                ]
            )
        lines += [[("    stale: ", "red"), (reason, None)] for reason in step.reasons]
    if stale:
        lines.append(
            [("hint: 'mlvc rerun --all' re-executes the stale steps, upstream first", "dim")]
        )
    return lines


def _command(step: PipelineStep) -> str:
    return shlex.join(step.command)
