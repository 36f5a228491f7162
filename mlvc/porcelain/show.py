"""`mlvc show [RUN | PATH | PATH@RUN]`: one run's whole record, or one version of a path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlvc.errors import UnsafePathError
from mlvc.ids import ObjectId
from mlvc.lineage.resolve import (
    DirAt,
    UnknownRefError,
    flatten_tree,
    load_run,
    newest_writer,
    resolve_at,
    resolve_run,
)
from mlvc.objects import PathRecord
from mlvc.repo import Repo


@dataclass(frozen=True)
class PathVersionShown:
    """A path as one run left it (side "output") or read it ("input"). `files` lists what
    is inside a tree, or what the run wrote in a directory written piecewise (kind "dir")."""

    path: str
    side: str
    kind: str
    id: ObjectId | None
    size: int
    files: dict[str, PathRecord]


@dataclass(frozen=True)
class ShowResult:
    id: ObjectId
    run: dict[str, Any]
    version: PathVersionShown | None = None  # when named as PATH@RUN


def show(repo: Repo, ref: str | None = None, cwd: Path | None = None) -> ShowResult:
    """RUN is an id, a unique prefix, a tag, `latest` (the default), `latest~N` or
    `latest:PATH`. A recorded PATH (relative to `cwd`) names the run of its current
    version; PATH@RUN names that version."""
    ref = (ref or "").strip() or "latest"
    try:
        oid = resolve_run(repo, ref, suggest=False)  # "did you mean" only if no path either
    except UnknownRefError:
        path, at, run_ref = ref.rpartition("@")
        rel = _relative(repo, path if at else ref, cwd)
        if at:
            return _version(repo, f"{rel}@{run_ref}")
        history = repo.index.history
        if history.is_recorded(rel) or history.versions_under(rel):
            oid = newest_writer(repo, rel)
        else:
            oid = resolve_run(repo, ref)  # fails again, saying what is close
    return ShowResult(oid, load_run(repo, oid).to_value())


def _relative(repo: Repo, path: str, cwd: Path | None) -> str:
    if cwd is None:
        return path.strip("/")
    try:
        return repo.relpath(Path(path), cwd)
    except UnsafePathError:  # outside the workspace: no path, so not a recorded one
        return path.strip("/")


def _version(repo: Repo, text: str) -> ShowResult:
    found = resolve_at(repo, text)
    run = load_run(repo, found.run).to_value()
    if isinstance(found, DirAt):
        size = sum(r.size for r in found.files.values())
        shown = PathVersionShown(found.path, found.side, "dir", None, size, found.files)
        return ShowResult(found.run, run, shown)
    rec = found.record
    files = flatten_tree(repo, rec.id) if rec.kind == "tree" else {}
    shown = PathVersionShown(found.path, found.side, rec.kind, rec.id, rec.size, files)
    return ShowResult(found.run, run, shown)
