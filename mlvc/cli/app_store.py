"""Store maintenance commands, declared for typer (the bodies are in cli/fsck.py)."""

from __future__ import annotations

from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def fsck(
    full: Annotated[bool, typer.Option("--full", help="Also read every byte.")] = False,
    repair: Annotated[
        bool, typer.Option("--repair", help="Rebuild what can be rebuilt (never deletes data).")
    ] = False,
    json: Json = False,
) -> None:
    """Check the store: index against packs, every reference, tags, the run log.

    Example: [bold]mlvc fsck --full[/bold]
    """
    from mlvc.cli.fsck import fsck_command

    fsck_command(full, repair, json)


def gc(
    apply: Annotated[
        bool, typer.Option("--apply", help="Free the space (else a dry run).")
    ] = False,
    grace: Annotated[
        str, typer.Option("--grace", help="Leave packs younger than this (2h, 30m, 0).")
    ] = "2h",
    json: Json = False,
) -> None:
    """Remove objects no run, tag or tracked path needs (a dry run unless --apply).

    Example: [bold]mlvc gc --apply[/bold]
    """
    from mlvc.cli.gc import gc_command

    gc_command(apply, grace, json)


def forget(
    refs: Annotated[list[str], typer.Argument(help="Runs to drop from history.")],
    force: Annotated[bool, typer.Option("--force", help="Even a tagged run.")] = False,
    json: Json = False,
) -> None:
    """Drop runs from history; what only they needed goes at the next gc --apply.

    Example: [bold]mlvc forget 3f2a9c1e[/bold]
    """
    from mlvc.cli.gc import forget_command

    forget_command(refs, force, json)


def purge(
    target: Annotated[str, typer.Argument(help="PATH@RUN, or the id of a file content.")],
    message: Annotated[str, typer.Option("--message", "-m", help="Why (kept).")] = "",
    remote: Annotated[
        list[str] | None,
        typer.Option("--remote", "-r", help="Purge it on this remote too (repeatable)."),
    ] = None,
    json: Json = False,
) -> None:
    """Remove one file content's bytes from every local pack, leaving a tombstone.

    With -r NAME, also from that remote's packs, leaving a tombstone there that pushes
    from other clones respect.

    Example: [bold]mlvc purge .env@3f2a9c1e -m "leaked key" -r origin[/bold]
    """
    from mlvc.cli.gc import purge_command

    purge_command(target, message, remote or [], json)
