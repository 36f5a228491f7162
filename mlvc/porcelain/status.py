"""`mlvc status`: tracked paths modified, deleted, or new inside a tracked directory."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Literal

from mlvc.repo import Repo
from mlvc.store.chunker import hash_file
from mlvc.store.index import StatRow, TrackedFile
from mlvc.workspace.ignore import Ignore
from mlvc.workspace.scan import FileStat, stat_of, walk
from mlvc.workspace.snapshot import is_clean

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
    index = repo.index
    tracked: dict[str, TrackedFile] = {f.path: f for f in index.tracked()}
    if not tracked:
        return StatusResult((), 0)
    cache = index.stat_rows()
    ignore = Ignore.load(repo.root)
    refreshed: list[tuple[str, StatRow]] = []
    seen: set[str] = set()
    changes: list[Change] = []
    dirs = {f.root for f in tracked.values() if f.path != f.root}
    for root in sorted({f.root for f in tracked.values()}):
        for st in _present(repo, root, root in dirs, ignore):
            seen.add(st.rel)
            known = tracked.get(st.rel)
            if known is None:
                changes.append(Change(st.rel, "new"))
                continue
            row = cache.get(st.rel)
            current: bytes
            if is_clean(row, st) and row is not None:
                current = row.file_id
            else:
                current = _hash(repo, st, refreshed)
            if current != known.id or st.kind != known.kind:
                changes.append(Change(st.rel, "modified"))
    changes.extend(Change(p, "deleted") for p in tracked if p not in seen)
    _save(repo, refreshed)
    return StatusResult(tuple(sorted(changes, key=lambda c: c.path)), len(tracked))


def _present(repo: Repo, root: str, is_dir: bool, ignore: Ignore) -> list[FileStat]:
    if is_dir:
        return list(walk(repo.root, root, ignore))
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
            oid, _ = hash_file(path)
    except OSError:
        return b""  # unreadable now: report it as modified rather than fail the status
    refreshed.append((st.rel, StatRow(st.size, st.mtime_ns, st.ino, oid, hashed_ns)))
    return oid


def _save(repo: Repo, rows: list[tuple[str, StatRow]]) -> None:
    """Refresh the stat cache, as `git status` refreshes the index: best effort only."""
    if not rows:
        return
    with contextlib.suppress(sqlite3.OperationalError):
        repo.index.begin(durable=False)
        repo.index.put_stat_rows(rows)
        repo.index.commit()
