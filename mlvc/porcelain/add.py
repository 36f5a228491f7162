"""`mlvc add`: snapshot files and directories and record a snapshot run."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlvc import clock
from mlvc.errors import MlvcError, PathNotFoundError, UnsafePathError
from mlvc.heap import paused_collector
from mlvc.ids import ObjectId
from mlvc.objects import PathRecord, Run
from mlvc.paths import check_relpath
from mlvc.recorder import IndexRows, record
from mlvc.repo import Repo
from mlvc.store.rowdiff import InPathOrder, by_path
from mlvc.workspace.ignore import Ignore
from mlvc.workspace.intake import Intake
from mlvc.workspace.scan import walk


class PathIgnoredError(MlvcError):
    pass


@dataclass(frozen=True)
class AddedPath:
    path: str
    kind: str  # file, tree, symlink, or "removed" for a tracked path that is gone
    id: ObjectId | None
    size: int
    changed: bool


@dataclass(frozen=True)
class AddResult:
    run_id: ObjectId | None
    paths: tuple[AddedPath, ...]
    files: int
    skipped: tuple[str, ...] = ()
    """Names inside the added directories that cannot be stored (see mlvc.paths), sorted;
    a directory ends with `/`. A name that is not UTF-8 holds its bytes as surrogates."""


def _targets(
    repo: Repo, paths: list[Path], cwd: Path, ignore: Ignore, skipped: list[str]
) -> list[str]:
    targets: list[str] = []
    for path in paths:
        rel = repo.relpath(path, cwd)
        if rel == "":
            # Adding the workspace root tracks each top-level entry on its own.
            tops = {st.rel.split("/")[0] for st in walk(repo.root, "", ignore, skipped)}
            targets.extend(sorted(tops))
            continue
        _check_storable(path, rel)
        if not os.path.lexists(repo.abspath(rel)):
            if not repo.index.is_tracked(rel):
                raise PathNotFoundError(f"pathspec '{path}' did not match any file")
        elif ignore.secret(rel, rel.rpartition("/")[2]):
            raise PathIgnoredError(
                f"path '{path}' looks like a credentials file; mlvc never stores those",
                hint="see docs/security.md; a run that reads it records its fingerprint",
            )
        elif _ignored(ignore, repo, rel):
            raise PathIgnoredError(
                f"path '{path}' is ignored (by .mlvcignore or mlvc's defaults)",
                hint="remove the matching rule from .mlvcignore to track it",
            )
        targets.append(rel)
    return list(dict.fromkeys(targets))


def _check_storable(path: Path, rel: str) -> None:
    """A path named on the command line that no tree can hold is refused outright."""
    try:
        check_relpath(rel)
    except UnsafePathError as exc:
        raise UnsafePathError(
            f"cannot track {str(path)!r}: {exc.message}",
            hint="rename it: mlvc stores UTF-8 names without control characters,"
            " backslashes, drive prefixes or .git/.mlvc components",
        ) from None


def _ignored(ignore: Ignore, repo: Repo, rel: str) -> bool:
    parts = rel.split("/")
    for depth in range(1, len(parts)):
        prefix = "/".join(parts[:depth])
        if ignore.skips_dir(prefix, parts[depth - 1], repo.abspath(prefix)):
            return True
    name = parts[-1]
    if os.path.isdir(repo.abspath(rel)) and not os.path.islink(repo.abspath(rel)):
        return ignore.skips_dir(rel, name, repo.abspath(rel))
    return ignore.skips_file(rel, name)


@paused_collector()
def add(
    repo: Repo,
    paths: list[Path],
    cwd: Path,
    owner: dict[str, Any],
    message: str = "",
    progress: Callable[[int], None] | None = None,
) -> AddResult:
    """Store each path; record one snapshot run with the paths whose content changed.
    A path that is tracked but gone from the workspace is recorded as removed."""
    started = clock.now()
    ignore = Ignore.load(repo.root)
    skipped: list[str] = []
    targets = _targets(repo, paths, cwd, ignore, skipped)
    index = repo.index
    versions = {p: v for p in targets if (v := index.latest_version(p)) is not None}
    snap = Intake(repo.root, repo.store, ignore, index.stat_rows(), progress, skipped=skipped)
    outputs: dict[str, PathRecord] = {}
    removed: list[str] = []
    added = []
    rows = IndexRows()
    try:
        for rel in targets:
            if not os.path.lexists(repo.abspath(rel)):
                removed.append(rel)
                rows.tracked[rel] = []
                added.append(AddedPath(rel, "removed", None, 0, True))
                continue
            before = len(snap.files)
            rec = snap.snapshot(rel, rel)
            inside = snap.files[before:]
            inside.sort(key=by_path)  # the index takes its rows in path order, unsorted
            rows.tracked[rel] = inside
            changed = versions.get(rel) != rec.id
            added.append(AddedPath(rel, rec.kind, rec.id, rec.size, changed))
            if changed:
                outputs[rel] = rec
                # Made as the index takes them: a list would hold a tuple per file.
                rows.files[rel] = InPathOrder((f.path, f.id, f.kind, f.size) for f in inside)
    except BaseException:
        repo.store.abort()
        raise
    rows.stat_rows = snap.new_stats
    run_id = None
    if outputs or removed:
        run = Run(
            kind="snapshot",
            started=started,
            ended=clock.now(),
            status="ok",
            command=("mlvc", "add", *targets),
            outputs=outputs,
            removed=tuple(removed),
            owner=owner,
            message=message,
            **snap.note_unsteady({}),
        )
        run_id = record(repo, run, rows)
    else:
        _refresh(repo, rows)
    return AddResult(run_id, tuple(added), len(snap.files), tuple(sorted(set(skipped))))


def _refresh(repo: Repo, rows: IndexRows) -> None:
    """Nothing changed: still store what was hashed (stat rows) for the next status."""
    repo.store.commit()
    if not rows.stat_rows:
        return
    repo.index.begin()
    try:
        repo.index.put_stat_rows(rows.stat_rows)
        repo.index.commit()
    except BaseException:
        repo.index.rollback()
        raise
