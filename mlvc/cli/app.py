"""The typer application: parse, call one porcelain function, render. Nothing else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mlvc import __version__
from mlvc.cli import app_lineage, app_remote, app_store
from mlvc.cli.app_remote import remote_app

app = typer.Typer(
    name="mlvc",
    help="Lineage tracking for machine learning, shaped like git.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
PLUMBING = "Plumbing"
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def command() -> Any:
    return typer.main.get_command(app)


def usage_errors() -> tuple[Any, Any, Any]:
    """The click exception types typer raises for usage errors, --help and aborts."""
    from click import exceptions

    return exceptions.ClickException, typer.Abort, typer.Exit


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"mlvc {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Lineage tracking for machine learning, shaped like git."""


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Directory to initialise.")] = Path("."),
    json: Json = False,
) -> None:
    """Create an mlvc repository (the .mlvc store) in PATH.

    Example: [bold]mlvc init[/bold]
    """
    from mlvc.cli.init import init_command

    init_command(path, json)


@app.command()
def add(
    paths: Annotated[
        list[Path], typer.Argument(help="Files or directories to snapshot.", readable=False)
    ],
    message: Annotated[str, typer.Option("--message", "-m", help="Why this snapshot.")] = "",
    json: Json = False,
) -> None:
    """Snapshot files and directories into the store and record a snapshot run.

    Example: [bold]mlvc add data/raw params.yaml[/bold]
    """
    from mlvc.cli.add import add_command

    add_command(paths, message, json)


@app.command()
def rm(
    paths: Annotated[
        list[Path], typer.Argument(help="Tracked files or directories.", readable=False)
    ],
    cached: Annotated[
        bool, typer.Option("--cached", help="Stop tracking, but keep the files.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Delete files even with unstored changes.")
    ] = False,
    json: Json = False,
) -> None:
    """Stop tracking paths and delete their files; their history stays.

    Example: [bold]mlvc rm --cached logs/train.log[/bold]
    """
    from mlvc.cli.rm import rm_command

    rm_command(paths, cached, force, json)


@app.command()
def status(json: Json = False) -> None:
    """Show tracked paths that are modified, deleted, or new in a tracked directory.

    Example: [bold]mlvc status[/bold]
    """
    from mlvc.cli.status import show_status

    show_status(json)


@app.command(
    context_settings={"allow_interspersed_args": False},
)
def run(
    command: Annotated[list[str], typer.Argument(help="The command to run, after '--'.")],
    inputs: Annotated[
        list[Path], typer.Option("--input", "-i", help="Declare an input (file or directory).")
    ] = [],  # noqa: B006 - typer reads defaults, never mutates them
    outputs: Annotated[list[Path], typer.Option("--output", "-o", help="Declare an output.")] = [],  # noqa: B006
    params_files: Annotated[
        list[Path], typer.Option("--params", "-p", help="Read params from this config file.")
    ] = [],  # noqa: B006
    metrics_files: Annotated[
        list[Path], typer.Option("--metrics", "-m", help="Read metrics from this file.")
    ] = [],  # noqa: B006
    message: Annotated[str, typer.Option("--message", help="Why this run.")] = "",
    tags: Annotated[list[str], typer.Option("--tag", "-t", help="Tag the run.")] = [],  # noqa: B006
    trace: Annotated[
        str | None,
        typer.Option(
            "--trace",
            help="How file access is captured: auto (inotify on Linux), strict (strace,"
            " by process), python (Python's own opens only). Default: [run] trace, or auto.",
        ),
    ] = None,
    json: Json = False,
) -> None:
    """Run a command and record everything it read, wrote, and ran with.

    Example: [bold]mlvc run -- python train.py --lr 0.1[/bold]
    """
    from mlvc.cli.run import run_command

    code = run_command(
        command, inputs, outputs, params_files, metrics_files, message, tags, json, trace
    )
    raise typer.Exit(code)


@app.command()
def show(
    ref: Annotated[
        str | None,
        typer.Argument(help="A run (default latest), a recorded PATH, or PATH@RUN."),
    ] = None,
    json: Json = False,
) -> None:
    """Show a run: command, code, inputs, outputs, params, metrics, environment.

    A PATH shows the run of its current version; PATH@RUN that version of the path.

    Example: [bold]mlvc show 3f2a9c1e[/bold]
    """
    from mlvc.cli.show import show_run

    show_run(ref, json)


LINEAGE = "Lineage"


@app.command(rich_help_panel=LINEAGE)
def checkout(
    ref: Annotated[str, typer.Argument(help="The run: id, prefix, tag, latest~N, latest:PATH.")],
    paths: Annotated[
        list[str] | None, typer.Argument(help="Only these paths (after '--').")
    ] = None,
    inputs: Annotated[
        bool, typer.Option("--inputs", help="Restore what the run read, as it read it.")
    ] = False,
    code: Annotated[
        bool, typer.Option("--code", help="Also check out the recorded commit and patch.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite without storing unrecorded files first.")
    ] = False,
    clean: Annotated[
        bool, typer.Option("--clean", help="Delete files in restored directories the run lacked.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would change.")] = False,
    json: Json = False,
    follow_symlinks: Annotated[
        bool,
        typer.Option(
            "--follow-symlinks",
            help="Write through symlinked directories in the workspace (never followed otherwise).",
        ),
    ] = False,
) -> None:
    """Put the workspace back as a run left it: every output, and every input it read.

    Files whose content is not in the store are stored first (listed), so nothing is lost.

    Example: [bold]mlvc checkout prod -- model/[/bold]
    """
    from mlvc.cli.checkout import checkout_command

    checkout_command(ref, paths or [], inputs, code, force, clean, dry_run, json, follow_symlinks)


app.command(rich_help_panel=LINEAGE)(app_lineage.log)


@app.command(rich_help_panel=LINEAGE)
def diff(
    a: Annotated[str, typer.Argument(help="A run, PATH@RUN or object id.")],
    b: Annotated[
        str | None,
        typer.Argument(help="A run, PATH@RUN or object id; without it, A's previous run."),
    ] = None,
    all_params: Annotated[bool, typer.Option("--all", help="Show unchanged params too.")] = False,
    content: Annotated[
        bool, typer.Option("--content", help="Unified diff of changed text files.")
    ] = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when they differ, 0 when not.")
    ] = False,
    json: Json = False,
) -> None:
    """Compare two runs (command, code, params, data, metrics, environment, resources),
    or two versions of a path. One run alone is compared with the run it superseded: the
    previous run of the same command, else the previous one that wrote the same outputs.

    Example: [bold]mlvc diff prod latest[/bold]
    """
    from mlvc.cli.diff import diff_command

    raise typer.Exit(diff_command(a, b, all_params, content, exit_code, json))


@app.command(rich_help_panel=LINEAGE)
def blame(
    target: Annotated[str, typer.Argument(help="PATH, PATH@RUN or a content id.")],
    depth: Annotated[int | None, typer.Option("--depth", help="Stop after N levels.")] = None,
    lines: Annotated[
        bool, typer.Option("--lines", help="Attribute each line of a text file to a run.")
    ] = False,
    keys: Annotated[
        bool, typer.Option("--keys", help="Attribute each key of a params/metrics file.")
    ] = False,
    json: Json = False,
) -> None:
    """The full upstream provenance of this exact content, down to snapshots.

    Example: [bold]mlvc blame metrics.json[/bold]
    """
    from mlvc.cli.blame import blame_command

    blame_command(target, depth, lines, keys, json)


REMOTES = "Remotes"
app.add_typer(remote_app, name="remote", rich_help_panel=REMOTES)


@app.command(rich_help_panel=REMOTES)
def push(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="Runs, tags or paths to push with their ancestors (default: all)."),
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Every run and tag (what no TARGET means).")
    ] = False,
    remote: Annotated[
        str | None, typer.Option("--remote", "-r", help="The remote (default: the default one).")
    ] = None,
    jobs: Annotated[
        int,
        typer.Option("--jobs", "-j", min=1, help="Packs and parts of packs in flight at once."),
    ] = 8,  # store.transport.DEFAULT_JOBS (not imported: start-up stays fast)
    json: Json = False,
) -> None:
    """Upload every run, and every object the runs need, that the remote lacks, in large packs.

    Example: [bold]mlvc push -r origin -j 16[/bold]
    """
    from mlvc.cli.remote import push_command

    if everything and targets:
        raise typer.BadParameter("give targets or --all, not both")
    push_command(list(targets or []), remote, jobs, json)


for _command in (app_remote.fetch, app_remote.pull, app_remote.clone):
    app.command(rich_help_panel=REMOTES)(_command)

for _lineage in (
    app_lineage.runs,
    app_lineage.rerun,
    app_lineage.reproduce,
    app_lineage.graph,
    app_lineage.tag,
    app_lineage.ui,
):
    app.command(rich_help_panel=LINEAGE)(_lineage)

for _maintenance in (app_store.fsck, app_store.gc, app_store.forget, app_store.purge):
    app.command(rich_help_panel=PLUMBING)(_maintenance)

index_app = typer.Typer(help="Maintain the SQLite index (a cache of the packs).")
app.add_typer(index_app, name="index", rich_help_panel=PLUMBING)


@index_app.command("rebuild")
def index_rebuild(json: Json = False) -> None:
    """Rebuild .mlvc/index.db from the packs alone.

    Example: [bold]mlvc index rebuild[/bold]
    """
    from mlvc.cli.index import rebuild_command

    rebuild_command(json)


@app.command("hash-object", rich_help_panel=PLUMBING)
def hash_object(
    paths: Annotated[list[Path], typer.Argument(help="Files to hash.")],
    json: Json = False,
) -> None:
    """Print the id (BLAKE3, as b3sum prints) of files, without storing them.

    Example: [bold]mlvc hash-object model.pt[/bold]
    """
    from mlvc.cli.plumbing import hash_object_command

    hash_object_command(paths, json)


@app.command("cat-object", rich_help_panel=PLUMBING)
def cat_object(
    ref: Annotated[str, typer.Argument(help="Object id or unique prefix (4+ hex digits).")],
    json: Json = False,
) -> None:
    """Print an object: file content as raw bytes, other objects decoded as JSON.

    Example: [bold]mlvc cat-object 3f2a9c1e > restored.bin[/bold]
    """
    from mlvc.cli.plumbing import cat_object_command

    cat_object_command(ref, json)


@app.command("ls-tree", rich_help_panel=PLUMBING)
def ls_tree(
    ref: Annotated[str, typer.Argument(help="Tree id or unique prefix.")],
    recursive: Annotated[bool, typer.Option("-r", "--recursive", help="Recurse.")] = False,
    json: Json = False,
) -> None:
    """List the entries of a tree object.

    Example: [bold]mlvc ls-tree -r 9b1c[/bold]
    """
    from mlvc.cli.plumbing import ls_tree_command

    ls_tree_command(ref, recursive, json)
