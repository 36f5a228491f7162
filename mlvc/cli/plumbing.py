"""The plumbing commands: `hash-object`, `cat-object`, `ls-tree`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mlvc.cli import environ, render


def hash_object_command(paths: list[Path], json: bool) -> None:
    from mlvc.porcelain.plumbing import hash_object as do_hash

    results = [do_hash(p) for p in paths]
    if json:
        render.emit_json(results)
        return
    for r in results:
        shown = "" if len(results) == 1 else f"  {render.shown(r.path)}"
        sys.stdout.write(f"{r.id.hex()}{shown}\n")


def cat_object_command(ref: str, json: bool) -> None:
    from mlvc.ids import Kind
    from mlvc.porcelain.plumbing import cat_object as do_cat

    repo = environ.repo()
    try:
        result = do_cat(repo, ref)
        if result.chunks is not None and not json:
            _stream(result.chunks)
            return
        if result.chunks is not None:
            total = sum(len(c) for c in result.chunks)
            value: dict[str, Any] = {
                "id": result.id,
                "kind": "file",
                "size": total,
                "chunked": result.kind is Kind.MANIFEST,
            }
        else:
            value = {"id": result.id, "kind": result.kind.label, "object": result.value}
        render.emit_json(value)
    finally:
        repo.close()


def _stream(chunks: Any) -> None:
    """Write verified chunks to stdout; a chunk that fails verification stops the stream
    before any of its bytes are written."""
    out = sys.stdout.buffer
    for chunk in chunks:
        out.write(chunk)
    out.flush()


def ls_tree_command(ref: str, recursive: bool, json: bool) -> None:
    from mlvc.porcelain.plumbing import ls_tree as do_ls

    repo = environ.repo()
    try:
        oid, entries = do_ls(repo, ref, recursive)
    finally:
        repo.close()
    if json:
        render.emit_json({"id": oid, "entries": entries})
        return
    for e in entries:
        mode = "x" if e.executable else "-"
        sys.stdout.write(f"{e.kind:7} {mode} {e.id.hex()}  {e.size:>12}  {render.shown(e.path)}\n")
