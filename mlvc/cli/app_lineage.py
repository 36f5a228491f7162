"""Lineage commands beside checkout, log, diff and blame, declared for typer (app.py
registers them in its Lineage panel; the bodies are in their own cli modules)."""

from __future__ import annotations

from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def rerun(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Output paths or runs (default: every stale step, as --all).",
            show_default=False,
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every stale step of the pipeline, upstream first.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the steps that would run; run none.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Rerun the needed steps even when up to date.")
    ] = False,
    json: Json = False,
) -> None:
    """Re-execute the stale steps the targets need, upstream first, each as 'mlvc run'.

    With no target (or --all): every stale step. A failed step stops the chain with
    its exit code.

    Example: [bold]mlvc rerun metrics.json[/bold]
    """
    from mlvc.cli.rerun import rerun_command

    raise typer.Exit(rerun_command(targets or [], dry_run, force, json, every))


def reproduce(
    ref: Annotated[str, typer.Argument(help="The run to re-execute.")],
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Run in this workspace, not a scratch one.")
    ] = False,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the scratch workspace and print its path.")
    ] = False,
    json: Json = False,
) -> None:
    """Re-execute a run from its recorded code and inputs; compare the outputs bit for bit.

    Exits 0 only when every output is identical to the original's.

    Example: [bold]mlvc reproduce latest:model/[/bold]
    """
    from mlvc.cli.reproduce import reproduce_command

    raise typer.Exit(reproduce_command(ref, in_place, keep, json))


def graph(
    target: Annotated[str | None, typer.Argument(help="A run or a PATH (default: all).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="tree, dot, mermaid or json.")] = "tree",
    steps: Annotated[
        bool,
        typer.Option(
            "--steps", help="The pipeline inferred from history: steps, not runs; stale marked."
        ),
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """The lineage DAG as a terminal tree, or exported as dot, mermaid or json.

    With --steps: the pipeline's steps (each distinct command and cwd), upstream first,
    what each reads from which, and the stale ones with why (tree or json).

    Example: [bold]mlvc graph metrics.json --format mermaid[/bold]
    """
    from mlvc.cli.blame import graph_command

    graph_command(target, fmt, steps, json)


def tag(
    name: Annotated[str | None, typer.Argument(help="Tag name.")] = None,
    run_ref: Annotated[str | None, typer.Argument(help="Run to tag (default: latest).")] = None,
    delete: Annotated[bool, typer.Option("-d", "--delete", help="Delete the tag.")] = False,
    history: Annotated[
        bool, typer.Option("--history", help="Who moved the tag, when, from what to what.")
    ] = False,
    message: Annotated[str, typer.Option("--message", "-m", help="Why.")] = "",
    json: Json = False,
) -> None:
    """List tags, tag a run, move or delete a tag; every move is kept in its history.

    Example: [bold]mlvc tag prod 3f2a9c1e -m "ship it"[/bold]
    """
    from mlvc.cli.tag import tag_command

    tag_command(name, run_ref, delete, history, message, json)
