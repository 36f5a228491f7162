"""The `mlvc remote` sub-commands, declared for typer (the bodies are in cli/remote.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
StorageOptions = Annotated[
    list[str],
    typer.Option("--option", "-o", help="A storage option key=value (never a credential)."),
]
remote_app = typer.Typer(help="Name the shared stores (fsspec URLs) runs are pushed to.")


@remote_app.command("add")
def remote_add(
    name: Annotated[str, typer.Argument(help="A name for the remote, e.g. origin.")],
    url: Annotated[
        str, typer.Argument(help="s3://BUCKET/PREFIX, gs://..., az://... or a directory.")
    ],
    default: Annotated[
        bool, typer.Option("--default", help="Use it when no -r NAME is given.")
    ] = False,
    options: StorageOptions = [],  # noqa: B006 - typer reads defaults, never mutates them
    json: Json = False,
) -> None:
    """Name a remote: any fsspec URL, with storage options; credentials are never stored.

    Example: [bold]mlvc remote add origin s3://team-bucket/mlvc --default[/bold]
    """
    from mlvc.cli.remote import remote_add_command

    remote_add_command(name, url, options, default, json)


@remote_app.command("list")
def remote_list(json: Json = False) -> None:
    """List the remotes (* marks the default).

    Example: [bold]mlvc remote list[/bold]
    """
    from mlvc.cli.remote import remote_list_command

    remote_list_command(json)


@remote_app.command("remove")
def remote_remove(
    name: Annotated[str, typer.Argument(help="The remote to forget.")],
    json: Json = False,
) -> None:
    """Forget a remote (and the local cache of its index); nothing on it is deleted.

    Example: [bold]mlvc remote remove origin[/bold]
    """
    from mlvc.cli.remote import remote_remove_command

    remote_remove_command(name, json)


RemoteName = Annotated[
    str | None, typer.Option("--remote", "-r", help="The remote (default: the default one).")
]


def fetch(remote: RemoteName = None, json: Json = False) -> None:
    """Learn the runs and tags a remote holds (their data stays there until needed).

    Example: [bold]mlvc fetch[/bold], then [bold]mlvc log[/bold]
    """
    from mlvc.cli.transfer import fetch_command

    fetch_command(remote, json)


def pull(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="Runs, tags, PATH@RUN or paths (default: every run)."),
    ] = None,
    remote: RemoteName = None,
    json: Json = False,
) -> None:
    """Fetch, then download the data the named runs or paths need for a checkout.

    Example: [bold]mlvc pull prod[/bold]
    """
    from mlvc.cli.transfer import pull_command

    pull_command(list(targets or []), remote, json)


def clone(
    url: Annotated[str, typer.Argument(help="The remote: s3://BUCKET/PREFIX, a directory...")],
    directory: Annotated[
        Path | None, typer.Argument(help="The code checkout to start the store in (default: .).")
    ] = None,
    options: StorageOptions = [],  # noqa: B006 - typer reads defaults, never mutates them
    json: Json = False,
) -> None:
    """Start a store in a code checkout from a remote: remote origin, then fetch.

    Example: [bold]git clone URL proj && cd proj && mlvc clone s3://team/mlvc[/bold]
    """
    from mlvc.cli.transfer import clone_command

    clone_command(url, directory, options, json)
