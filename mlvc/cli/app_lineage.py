"""Lineage commands beside checkout, log, diff and blame, declared for typer (app.py
registers them in its Lineage panel; the bodies are in their own cli modules)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Since = Annotated[
    str | None, typer.Option("--since", help="Only runs started at or after (ISO date).")
]
Owner = Annotated[str | None, typer.Option("--owner", help="Only runs by this user.")]
# The options of a run table, shared by `mlvc runs` and `mlvc log --table`.
Where = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        help="Only runs where KEY OP VALUE holds, e.g. 'metrics.acc > 0.9' (repeatable).",
        show_default=False,
    ),
]
CommandFilter = Annotated[
    str | None, typer.Option("--command", help="Only runs whose command contains this text.")
]
Sort = Annotated[
    str | None,
    typer.Option("--sort", help="Order by this column: duration, params.K, metrics.K ..."),
]
Reverse = Annotated[bool, typer.Option("--reverse", help="Reverse the order.")]
Csv = Annotated[bool, typer.Option("--csv", help="Print CSV: a header, then a row per run.")]


def log(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="A file or directory: its versions. With --table: runs, tags or paths.",
            show_default=False,
        ),
    ] = None,
    number: Annotated[int | None, typer.Option("-n", "--max-count", help="At most N.")] = None,
    skip: Annotated[
        int, typer.Option("--skip", min=0, help="Skip the N newest runs first (a page).")
    ] = 0,
    oneline: Annotated[bool, typer.Option("--oneline", help="One line per run.")] = False,
    since: Since = None,
    owner: Owner = None,
    all_runs: Annotated[
        bool, typer.Option("--all", help="Include failed and interrupted runs.")
    ] = False,
    consumers: Annotated[
        bool, typer.Option("--consumers", help="With PATH: the runs that read each version.")
    ] = False,
    json: Json = False,
    table: Annotated[
        bool, typer.Option("--table", help="Runs side by side, as 'mlvc runs' shows them.")
    ] = False,
    where: Where = None,
    command: CommandFilter = None,
    sort: Sort = None,
    reverse: Reverse = False,
    csv: Csv = False,
) -> None:
    """Runs newest first; with PATH, every version of that path and the run that made it.

    Example: [bold]mlvc log model/model.pt --consumers[/bold]
    """
    from mlvc.cli.log import log_command

    log_command(
        paths or [],
        number,
        oneline,
        since,
        owner,
        all_runs,
        consumers,
        json,
        table,
        where,
        command,
        sort,
        reverse,
        csv,
        skip,
    )


def runs(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Runs, tags or paths (the runs that wrote them); default: every run.",
            show_default=False,
        ),
    ] = None,
    where: Where = None,
    command: CommandFilter = None,
    sort: Sort = None,
    reverse: Reverse = False,
    limit: Annotated[int | None, typer.Option("-n", "--limit", help="At most N runs.")] = None,
    since: Since = None,
    owner: Owner = None,
    all_runs: Annotated[
        bool,
        typer.Option("--all", help="Include failed runs, reproductions and safety snapshots."),
    ] = False,
    json: Json = False,
    csv: Csv = False,
) -> None:
    """Runs side by side: a row per run, a column per param that differs and per metric.

    Example: [bold]mlvc runs --command train.py --where 'metrics.acc > 0.9'[/bold]
    """
    from mlvc.cli.runs import runs_command

    runs_command(
        targets or [], where, command, sort, reverse, limit, since, owner, all_runs, json, csv
    )


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


def ui(
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")
    ] = 8700,
    host: Annotated[
        str, typer.Option("--host", help="Interface to listen on (others can then connect).")
    ] = "127.0.0.1",
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the page in the default browser.")
    ] = False,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="Write the page and its data to DIR instead of serving."),
    ] = None,
) -> None:
    """Browse the lineage graph, runs, diffs and metric plots in a read-only local page.

    Example: [bold]mlvc ui --open[/bold]
    """
    from mlvc.cli.ui import ui_command

    ui_command(host, port, open_browser, export)
