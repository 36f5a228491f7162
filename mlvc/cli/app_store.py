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
