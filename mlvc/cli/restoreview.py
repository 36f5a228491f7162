"""`checkout` and `reproduce`: parse paths and refs, call the porcelain, render the result."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from mlvc.cli import render

LISTED = 40  # changes listed one per line; more are summarised by kind


def _owner() -> dict[str, str]:
    from mlvc.cli.views import owner

    return owner()


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
    from mlvc.lineage.resolve import load_run, resolve_run
    from mlvc.porcelain.checkout import CheckoutRequest, checkout
    from mlvc.repo import Repo

    cwd = Path.cwd()
    repo = Repo.discover(cwd)
    progress = render.Bytes("Checking out")
    try:
        run_id = resolve_run(repo, ref)
        code_result = None
        if code:
            from mlvc.workspace.gitcode import checkout_code, guarded_paths, recorded_commit

            loaded = load_run(repo, run_id)
            recorded, guarded = loaded.code, guarded_paths(loaded)
            code_result = (
                {"commit": recorded_commit(recorded), "patch": recorded.get("patch") is not None}
                if dry_run
                else checkout_code(
                    repo.root,
                    recorded,
                    repo.store,
                    dict(os.environ),
                    f"run {run_id.hex()[:12]}",
                    guarded,
                )
            )
        request = CheckoutRequest(
            run_id=run_id,
            paths=tuple(repo.relpath(Path(p), cwd) for p in paths),
            inputs=inputs,
            force=force,
            clean=clean,
            dry_run=dry_run,
            owner=_owner(),
            follow_symlinks=follow_symlinks,
        )
        result = checkout(repo, request, progress, progress.set_total)
    finally:
        progress.close()
        repo.close()
    if json:
        render.emit_json({**render.plain(result), "code": code_result})
    else:
        show_checkout(result, code_result)
    if result.kept:
        from mlvc.errors import MlvcError

        name = result.run_id.hex()[:12]
        raise MlvcError(
            f"{len(result.kept)} file(s) changed again while the checkout ran and were left"
            f" as they are: {', '.join(result.kept[:5])}",
            hint=f"run 'mlvc checkout {name}' again to replace them",
        )


def show_checkout(result: Any, code: dict[str, Any] | None) -> None:
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
        runs = ", ".join(r.hex()[:12] for r in result.saved_runs)
        snapshot = f" (snapshot {runs}):" if runs else ":"
        lines.append([(f"{len(result.saved)} file(s) not in the store {how}{snapshot}", "bold")])
        for saved in result.saved:
            ident = f"  {saved.id.hex()[:12]}" if saved.id is not None else ""
            lines.append([(f"  {saved.path}{ident}  {render.size(saved.size)}", None)])
        if result.saved_run:
            hint = (
                "hint: get one back with 'mlvc cat-object ID > PATH'"
                f" or 'mlvc checkout {result.saved_run.hex()[:12]}'"
            )
            lines.append([(hint, "dim")])
    done = len(result.changes)
    summary = f"{done} change(s)" if done else "nothing to change"
    prefix = f"{verb} " if verb else ""
    ending = f"{prefix}checkout {result.run_id.hex()[:12]}: {summary}"
    lines.append([(f"{ending}, {result.unchanged} unchanged", None)])
    render.print_lines(lines)


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
        sys.stderr.write(f"mlvc: reproducing {run_id.hex()[:12]} ({shown}) {where}\n")
        request = ReproduceRequest(
            run_id=run_id,
            env=dict(os.environ),
            scratch=Path(tempfile.gettempdir()),
            in_place=in_place,
            keep=keep,
            terminal=(2, 2) if json else (1, 2),
            owner=_owner(),
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
        old = check.old.hex()[:12] if check.old else "-"
        new = check.new.hex()[:12] if check.new else "-"
        verdict = render.styled([(check.verdict, colors[check.verdict])])
        table.add_row(render.shown(check.path), verdict, old, new)
        for f in check.files[:LISTED]:
            table.add_row(render.shown(f"  {f}"), render.styled([("differs", "red")]), "", "")
    console.print(table)
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
    console.print(
        render.styled([(f"reproduced as run {result.run_id.hex()[:12]}: ", None), outcome])
    )
