"""`mlvc checkout RUN`: put the workspace back as a run left it."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from mlvc.cli import environ, render
from mlvc.ids import short

LISTED = 40  # changes listed one per line; more are summarised by kind


def checkout_command(
    ref: str,
    paths: list[str],
    inputs: bool,
    code: bool,
    force: bool,
    clean: bool,
    dry_run: bool,
    json: bool,
    follow_symlinks: bool = False,
) -> None:
    from mlvc.lineage.resolve import resolve_run
    from mlvc.porcelain.checkout import CheckoutRequest, checkout
    from mlvc.repo import Repo

    cwd = Path.cwd()
    repo = Repo.discover(cwd)
    progress = render.Bytes("Checking out")
    pulling = render.Bytes("Pulling")
    try:
        run_id = resolve_run(repo, ref)
        request = CheckoutRequest(
            run_id=run_id,
            paths=tuple(repo.relpath(Path(p), cwd) for p in paths),
            inputs=inputs,
            force=force,
            clean=clean,
            dry_run=dry_run,
            owner=environ.owner(),
            follow_symlinks=follow_symlinks,
            code=code,
            env=dict(os.environ),
        )
        result = checkout(repo, request, progress, progress.set_total, pulling)
    finally:
        pulling.close()
        progress.close()
        repo.close()
    if json:
        render.emit_json(result)
    else:
        show_checkout(result)
    if result.kept:
        from mlvc.errors import MlvcError

        name = short(result.run_id)
        raise MlvcError(
            f"{len(result.kept)} file(s) changed again while the checkout ran and were left"
            f" as they are: {', '.join(result.kept[:5])}",
            hint=f"run 'mlvc checkout {name}' again to replace them",
        )


def show_checkout(result: Any) -> None:
    code = result.code
    lines: list[list[render.Segment]] = []
    verb = "would" if result.dry_run else ""
    colors = {"create": "green", "update": "yellow", "mode": "cyan", "delete": "red"}
    if code is not None:
        patch = " + recorded patch" if code["patch"] else ""
        where = "would be" if result.dry_run else "is now"
        lines.append([(f"code: HEAD {where} at {code['commit'][:12]} (detached){patch}", None)])
    if len(result.changes) <= LISTED:
        for change in result.changes:
            lines.append([(f"{change.op:>7}", colors[change.op]), (f" {change.path}", None)])
    else:
        counts = Counter(c.op for c in result.changes)
        lines.append([("  ".join(f"{n} {op}" for op, n in sorted(counts.items())), None)])
    if result.saved:
        how = "would be stored first" if result.dry_run else "stored first"
        runs = ", ".join(short(r) for r in result.saved_runs)
        snapshot = f" (safety snapshot {runs}):" if runs else ":"
        lines.append([(f"{len(result.saved)} file(s) not in the store {how}{snapshot}", "bold")])
        for saved in result.saved:
            ident = f"  {short(saved.id)}" if saved.id is not None else ""
            lines.append([(f"  {saved.path}{ident}  {render.size(saved.size)}", None)])
        if result.saved_run:
            hint = (
                f"hint: get them back with 'mlvc checkout {short(result.saved_run)}' (one:"
                " 'mlvc cat-object ID > PATH'); 'mlvc log --all' lists safety snapshots"
            )
            lines.append([(hint, "dim")])
    done = len(result.changes)
    summary = f"{done} change(s)" if done else "nothing to change"
    prefix = f"{verb} " if verb else ""
    ending = f"{prefix}checkout {short(result.run_id)}: {summary}"
    lines.append([(f"{ending}, {result.unchanged} unchanged", None)])
    render.print_lines(lines)
