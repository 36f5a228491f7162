"""`mlvc status`: tracked paths modified, deleted, or new inside a tracked directory."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Literal

from mlvc.repo import Repo
from mlvc.store.index import StatRow
from mlvc.workspace.ignore import Ignore
from mlvc.workspace.scan import FileStat, stat_of, walk
from mlvc.workspace.statcache import racy_window

State = Literal["modified", "deleted", "new"]


@dataclass(frozen=True)
class Change:
    path: str
    state: State


@dataclass(frozen=True)
class StatusResult:
    changes: tuple[Change, ...]
    tracked: int

    @property
    def clean(self) -> bool:
        return not self.changes


def status(repo: Repo) -> StatusResult:
    tracked = repo.index.tracked_with_stats()
    if not tracked:
        return StatusResult((), 0)
    ignore = Ignore.load(repo.root)
    refreshed: list[tuple[str, StatRow]] = []
    seen: set[str] = set()
    changes: list[Change] = []
    roots = {row[0] for row in tracked.values()}
    dirs = {row[0] for path, row in tracked.items() if path != row[0]}
    for root in sorted(roots):
        for st in _present(repo, root, root in dirs, ignore):
            seen.add(st.rel)
            row = tracked.get(st.rel)
            if row is None:
                changes.append(Change(st.rel, "new"))
            elif _current_id(repo, st, row, refreshed) != row[1] or st.kind != row[2]:
                changes.append(Change(st.rel, "modified"))
    changes.extend(Change(p, "deleted") for p in tracked if p not in seen)
    _save(repo, refreshed)
    return StatusResult(tuple(sorted(changes, key=lambda c: c.path)), len(tracked))


def _current_id(
    repo: Repo, st: FileStat, row: list[Any], refreshed: list[tuple[str, StatRow]]
) -> bytes:
    """The file's id from the stat cache when its entry is racy-clean, else by hashing."""
    _, _, _, _, size, mtime_ns, ino, file_id, hashed_ns, ctime_ns = row
    if (
        file_id is not None
        and size == st.size
        and mtime_ns == st.mtime_ns
        and ino == st.ino
        and ctime_ns == st.ctime_ns
        and st.ctime_ns < hashed_ns - racy_window(st.ctime_ns)
    ):
        return bytes(file_id)
    return _hash(repo, st, refreshed)


def _present(repo: Repo, root: str, is_dir: bool, ignore: Ignore) -> list[FileStat]:
    if is_dir:
        return walk(repo.root, root, ignore)
    try:
        st = os.lstat(repo.abspath(root))
    except FileNotFoundError:
        return []
    return [] if os.path.isdir(repo.abspath(root)) else [stat_of(root, st)]


def _hash(repo: Repo, st: FileStat, refreshed: list[tuple[str, StatRow]]) -> bytes:
    hashed_ns = time.time_ns()
    path = repo.abspath(st.rel)
    try:
        if st.kind == "symlink":
            from mlvc.ids import file_id

            oid = file_id(os.fsencode(os.readlink(path)))
        else:
            from mlvc.store.chunker import hash_file

            oid, _ = hash_file(path)
    except OSError:
        return b""  # unreadable now: report it as modified rather than fail the status
    refreshed.append((st.rel, StatRow(st.size, st.mtime_ns, st.ino, oid, hashed_ns, st.ctime_ns)))
    return oid


def _save(repo: Repo, rows: list[tuple[str, StatRow]]) -> None:
    """Refresh the stat cache, as `git status` refreshes the index: best effort only."""
    if not rows:
        return
    with contextlib.suppress(sqlite3.OperationalError):
        repo.index.begin(durable=False)
        repo.index.put_stat_rows(rows)
        repo.index.commit()
