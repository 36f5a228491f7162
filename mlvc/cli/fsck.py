"""`mlvc fsck`: check the store (and repair it); exit 0 only when clean."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import TYPE_CHECKING

from mlvc.cli import environ, render

if TYPE_CHECKING:
    from mlvc.porcelain.fsck import FsckResult


def fsck_command(full: bool, repair: bool, json: bool) -> None:
    from mlvc.errors import MlvcError
    from mlvc.porcelain.fsck import fsck

    if repair:
        from mlvc.cli.gc import refuse_inside_a_run

        refuse_inside_a_run("mlvc fsck --repair")
    restored = None
    if repair:
        from pathlib import Path

        from mlvc.repo import restore_config

        restored = restore_config(Path.cwd())
    progress = render.Bytes("Checking")
    result = environ.with_repo(lambda repo: fsck(repo, full, repair, progress), progress)
    if restored is not None:
        result = replace(result, repaired=(restored, *result.repaired))
    if json:
        render.emit_json({**render.plain(result), "clean": result.clean})
    else:
        _show(result)
    if not result.clean:
        serious = sum(1 for p in result.problems if p.serious)
        raise MlvcError(
            f"the store has {serious} problem(s)",
            hint="mlvc fsck --repair rebuilds what can be rebuilt; it never deletes data"
            if not repair
            else "what is left cannot be repaired here: restore it from a backup or a remote",
        )


def _show(result: FsckResult) -> None:
    shown = render.shown
    for line in result.repaired:
        sys.stdout.write(f"repaired: {shown(line)}\n")
    problems = result.problems
    for p in problems:
        level = "error" if p.serious else "note "
        what = " ".join(x for x in (p.object or "", (p.id or "")[:12], p.file or "") if x)
        sys.stdout.write(f"{level}  {p.kind}  {shown(what)}  {shown(p.detail)}\n")
    depth = "every byte" if result.full else "metadata; --full reads every byte"
    errors = sum(1 for p in problems if p.serious)
    notes = len(problems) - errors
    packs = result.packs
    sys.stdout.write(f"checked {packs} pack(s) ({depth}): {errors} problem(s), {notes} note(s)\n")
