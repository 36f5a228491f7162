"""`mlvc remote add / list / remove`: parse, call mlvc.porcelain.remote, render."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mlvc.cli import environ, render


def remote_add_command(name: str, url: str, options: list[str], default: bool, json: bool) -> None:
    from mlvc.porcelain.remote import remote_add

    result = environ.with_repo(
        lambda repo: remote_add(repo, name, url, options, default, Path.cwd())
    )
    if json:
        render.emit_json(result)
        return
    mark = " (default)" if result.remote.default else ""
    shown = render.shown
    sys.stdout.write(f"added remote {shown(result.remote.name)} {shown(result.remote.url)}{mark}\n")


def remote_list_command(json: bool) -> None:
    from mlvc.porcelain.remote import remote_list

    result = environ.with_repo(remote_list)
    if json:
        render.emit_json(result)
        return
    for remote in result.remotes:
        mark = "*" if remote.default else " "
        options = " ".join(f"{k}={_text(v)}" for k, v in remote.options.items())
        shown = render.shown
        extra = f"  {shown(options)}" if options else ""
        sys.stdout.write(f"{mark} {shown(remote.name)}\t{shown(remote.url)}{extra}\n")


def remote_remove_command(name: str, json: bool) -> None:
    from mlvc.porcelain.remote import remote_remove

    result = environ.with_repo(lambda repo: remote_remove(repo, name))
    if json:
        render.emit_json(result)
        return
    what = render.shown(f"{result.name} ({result.url})")
    sys.stdout.write(f"removed remote {what}; nothing on it was deleted\n")


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def push_command(targets: list[str], remote: str | None, jobs: int, json: bool) -> None:
    from mlvc.porcelain.push import push

    progress = render.Bytes("Pushing")
    user = str(environ.owner().get("user", ""))
    result = environ.with_repo(
        lambda repo: push(repo, remote, progress, user, targets, jobs), progress
    )
    if json:
        render.emit_json(result)
    else:
        _report_push(result)
    rejected = [t for t in result.tags if t.status in ("rejected", "diverged")]
    if rejected:
        from mlvc.errors import MlvcError

        names = ", ".join(render.shown(t.name) for t in rejected)
        raise MlvcError(
            f"tag(s) not pushed: {names}: they moved another way on {result.remote}",
            hint="mlvc fetch, look at both (mlvc tag --history NAME), move the tag, push again",
        )


def _report_push(result: Any) -> None:
    if result.aborted_uploads:
        sys.stdout.write(
            f"aborted {counted(result.aborted_uploads, 'unfinished upload')} that a killed"
            f" push left on {result.remote}\n"
        )
    for tag in result.tags:
        if tag.status in ("new", "updated"):
            sys.stdout.write(f"tag {render.shown(tag.name)} -> {tag.run.hex()[:12]}\n")
    if not result.packs and not result.runs:
        sys.stdout.write(
            f"remote {result.remote} is up to date ({counted(result.requests, 'request')})\n"
        )
        return
    mib = result.bytes / (1 << 20)
    sys.stdout.write(
        f"pushed {counted(result.objects, 'object')}"
        f" ({mib:.1f} MiB in {counted(result.packs, 'pack')})"
        f" and {counted(result.runs, 'run')} to {result.remote} "
        f"({counted(result.requests, 'request')}, {result.seconds:.1f} s)\n"
    )


def counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
