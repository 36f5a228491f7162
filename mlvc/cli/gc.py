"""`mlvc gc` and `mlvc forget`: parse, call mlvc.porcelain.gc, render."""

from __future__ import annotations

import sys

from mlvc.cli import environ, render


def refuse_inside_a_run(what: str) -> None:
    """`mlvc run` holds the store open (the use lock, shared) while its command runs: a
    command needing it exclusive, started by that command, would wait for ever."""
    import os

    from mlvc.capture.tracer import SPOOL_VAR
    from mlvc.errors import MlvcError

    if os.environ.get(SPOOL_VAR):
        raise MlvcError(
            f"{what} cannot run inside mlvc run: the run keeps the store open until it ends",
            hint=f"run {what} after the run, outside mlvc run",
        )


def gc_command(apply: bool, grace: str, json: bool) -> None:
    from mlvc.porcelain.gc import gc, parse_grace

    if apply:
        refuse_inside_a_run("mlvc gc --apply")

    seconds = parse_grace(grace)
    progress = render.Bytes("Collecting")
    result = environ.with_repo(lambda repo: gc(repo, apply, seconds, progress), progress)
    if json:
        render.emit_json(result)
        return
    size = render.size(result.bytes)
    if not result.objects:
        sys.stdout.write(f"nothing to collect ({result.live_objects} live objects)\n")
    elif result.applied:
        sys.stdout.write(
            f"freed {result.objects} object(s), {size}: {result.packs_rewritten} pack(s)"
            f" rewritten, {result.packs_removed} removed\n"
        )
    else:
        sys.stdout.write(f"would free {result.objects} object(s), {size} (dry run: add --apply)\n")
    if result.young_packs:
        sys.stdout.write(f"left {result.young_packs} pack(s) younger than --grace {grace}\n")


def forget_command(refs: list[str], force: bool, json: bool) -> None:
    from mlvc.lineage.resolve import resolve_run
    from mlvc.porcelain.gc import forget

    result = environ.with_repo(
        lambda repo: forget(repo, [resolve_run(repo, r) for r in refs], force)
    )
    if json:
        render.emit_json(result)
        return
    for oid in result.runs:
        sys.stdout.write(f"forgot run {oid.hex()[:12]}\n")
    sys.stdout.write("its objects no other run needs go at the next mlvc gc --apply\n")


def purge_command(target: str, message: str, remotes: list[str], json: bool) -> None:
    from mlvc import clock
    from mlvc.porcelain.purge import purge

    refuse_inside_a_run("mlvc purge")

    user = str(environ.owner().get("user", ""))
    result = environ.with_repo(
        lambda repo: purge(repo, target, message, user, clock.now(), remotes)
    )
    if json:
        render.emit_json(result)
        return
    short = result.id.hex()[:12]
    if result.already:
        sys.stdout.write(f"{short} was purged here before\n")
    else:
        sys.stdout.write(
            f"purged {short}: {result.removed} object(s), {render.size(result.bytes)}"
            f" removed from {result.packs_rewritten} pack(s)"
        )
        if result.shared:
            sys.stdout.write(f"; {result.shared} chunk(s) kept, other contents share them")
        sys.stdout.write("\n")
    for done in result.remotes:
        sys.stdout.write(
            f"purged on remote {done.remote}: {done.removed} object(s),"
            f" {render.size(done.bytes)} removed from {done.packs_rewritten} pack(s);"
            " a tombstone there keeps pushes from sending it again\n"
        )
    where = "" if result.remotes else "; on a remote: add -r NAME"
    sys.stdout.write(
        "runs that used it still show; reading it now says it was purged."
        f" Copies in backups are not touched{where}.\n"
    )
