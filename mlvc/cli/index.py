"""`mlvc index rebuild`: a new index from the packs alone."""

from __future__ import annotations

import sys

from mlvc.cli import environ, render


def rebuild_command(json: bool) -> None:
    from mlvc.porcelain.rebuild import rebuild

    result = environ.with_repo(rebuild)
    if json:
        render.emit_json(result)
        return
    sys.stdout.write(
        f"rebuilt the index: {result.packs} packs, {result.objects} objects, {result.runs} runs\n"
    )
    for name in result.skipped_packs:
        sys.stderr.write(f"warning: skipped corrupt pack {name}\n")
    if result.uncommitted:
        sys.stderr.write(
            f"note: {len(result.uncommitted)} run(s) in packs were never committed (a command"
            " killed before its commit) and were left out\n"
        )
    for oid in result.missing:
        sys.stderr.write(f"warning: committed run {oid[:12]} is in no pack\n")
    for oid in result.damaged:
        sys.stderr.write(f"warning: run {oid[:12]} (or a tree it reaches) is damaged\n")
