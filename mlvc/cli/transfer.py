"""`mlvc fetch`, `pull` and `clone`: parse, call the porcelain, render."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mlvc.cli import environ, render
from mlvc.cli.remote import counted


def fetch_command(remote: str | None, json: bool) -> None:
    from mlvc.porcelain.fetch import fetch

    progress = render.Bytes("Fetching")
    result = environ.with_repo(lambda repo: fetch(repo, remote, progress), progress)
    if json:
        render.emit_json(result)
        return
    _report_fetch(result, "fetched")


def pull_command(targets: list[str], remote: str | None, json: bool) -> None:
    from mlvc.porcelain.pull import pull

    progress = render.Bytes("Pulling")
    result = environ.with_repo(lambda repo: pull(repo, targets, remote, progress), progress)
    if json:
        render.emit_json(result)
        return
    _report_fetch(result, "pulled")


def clone_command(url: str, directory: Path | None, options: list[str], json: bool) -> None:
    from mlvc.porcelain.clone import clone

    progress = render.Bytes("Fetching")
    try:
        result = clone(url, directory or Path.cwd(), options, Path.cwd(), progress)
    finally:
        progress.close()
    if json:
        render.emit_json(result)
        return
    sys.stdout.write(f"initialised {render.shown(str(result.root / '.mlvc'))}\n")
    _report_fetch(result.fetched, "fetched")
    sys.stdout.write("data stays on the remote until mlvc checkout or mlvc pull needs it\n")


def _report_fetch(result: Any, verb: str) -> None:
    shown = render.shown
    for tag in result.tags:
        what = {
            "new": "new tag",
            "updated": "tag moved",
            "diverged": "tag kept (it went another way here; see mlvc tag --history)",
            "unknown run": "tag skipped (its run is not on the remote)",
        }[tag.status]
        sys.stdout.write(f"{what}: {shown(tag.name)} -> {tag.run.hex()[:12]}\n")
    mib = result.bytes / (1 << 20)
    sys.stdout.write(
        f"{verb} {counted(result.runs, 'new run')} and {counted(result.objects, 'object')} "
        f"({mib:.1f} MiB) from {shown(result.remote)} "
        f"({counted(result.requests, 'request')}, {result.seconds:.1f} s)\n"
    )
