"""`mlvc status`: tracked paths modified, deleted, or new inside a tracked directory.

The hot path is one `lstat` per tracked file compared with a row of `worktree.msgpack`
(see docs/format.md). The row holds the stat fields only when the stat cache vouches for
the tracked content (same id, not racy); anything else takes the slow path and is hashed.
As in git, ignore rules decide which untracked files are reported new; a tracked file is
compared whatever they say.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlvc.errors import UnreadableFileError
from mlvc.repo import Repo
from mlvc.store.index import StatRow
from mlvc.workspace.ignore import Ignore
from mlvc.workspace.scan import UNSAFE_NAME
from mlvc.workspace.statcache import racy_window

State = Literal["modified", "deleted", "new"]
_FMT = {"file": stat.S_IFREG, "symlink": stat.S_IFLNK}
_IFMT = 0o170000


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


def _build(rows: Iterable[tuple[Any, ...]]) -> list[Any]:
    """worktree.msgpack's payload: [{path: [root, fmt, size, mtime_ns, ino, ctime_ns]},
    directory roots]. mtime_ns is -1 (never equal) unless the stat cache vouches."""
    table: dict[str, list[Any]] = {}
    dirs = set()
    for path, root, oid, kind, size, mtime_ns, ino, file_id, hashed_ns, ctime_ns in rows:
        vouched = file_id == oid and ctime_ns < hashed_ns - racy_window(ctime_ns)
        table[path] = [root, _FMT.get(kind, 0), size, mtime_ns if vouched else -1, ino, ctime_ns]
        if path != root:
            dirs.add(root)
    return [table, sorted(dirs)]


def status(repo: Repo) -> StatusResult:
    table, dirs = repo.index.worktree(_build)
    if not table:
        return StatusResult((), 0)
    walker = _Walker(repo.root, table, Ignore.load(repo.root))
    for root in sorted({row[0] for row in table.values()}):
        if root in dirs:
            walker.directory(root)
        else:
            walker.single(root)
    changes = walker.changes
    refreshed = _settle(repo, walker.slow, changes)
    changes.extend(Change(p, "deleted") for p in table if p not in walker.seen)
    _save(repo, refreshed)
    return StatusResult(tuple(sorted(changes, key=lambda c: c.path)), len(table))


class _Walker:
    def __init__(self, root: Path, table: dict[str, list[Any]], ignore: Ignore) -> None:
        self.root = str(root)
        self.table = table
        self.ignore = ignore
        self.seen: set[str] = set()
        self.slow: list[tuple[str, os.stat_result]] = []
        self.changes: list[Change] = []

    def single(self, rel: str) -> None:
        try:
            st = os.lstat(os.path.join(self.root, rel))
        except (FileNotFoundError, NotADirectoryError):
            return
        if not stat.S_ISDIR(st.st_mode):
            self.seen.add(rel)
            self._compare(rel, st)

    def _compare(self, rel: str, st: os.stat_result) -> None:
        row = self.table[rel]
        if (
            st.st_mtime_ns != row[3]
            or st.st_size != row[2]
            or st.st_ino != row[4]
            or st.st_ctime_ns != row[5]
            or st.st_mode & _IFMT != row[1]
        ):
            self.slow.append((rel, st))

    def directory(self, top: str) -> None:
        """The loop runs once per file on every status: kept flat on purpose."""
        get, seen, slow, root = self.table.get, self.seen, self.slow, self.root
        stack = [top]
        while stack:
            current = stack.pop()
            prefix = current + "/"
            try:
                entries = os.scandir(os.path.join(root, current))
            except (FileNotFoundError, NotADirectoryError):
                continue
            except PermissionError:
                raise UnreadableFileError(
                    f"cannot read directory {current}: permission denied"
                ) from None
            with entries:
                for entry in entries:
                    rel = prefix + entry.name
                    row = get(rel)
                    if row is None:
                        self._untracked(entry, rel, stack)
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if (
                        st.st_mtime_ns == row[3]
                        and st.st_size == row[2]
                        and st.st_ino == row[4]
                        and st.st_ctime_ns == row[5]
                        and st.st_mode & _IFMT == row[1]
                    ):
                        seen.add(rel)
                    elif stat.S_ISDIR(st.st_mode):
                        stack.append(rel)  # a tracked file became a directory: deleted
                    else:
                        seen.add(rel)
                        slow.append((rel, st))

    def _untracked(self, entry: os.DirEntry[str], rel: str, stack: list[str]) -> None:
        name = entry.name
        if UNSAFE_NAME.search(name):
            return
        if entry.is_dir(follow_symlinks=False):
            if not self.ignore.skips_dir(rel, name, Path(entry.path)):
                stack.append(rel)
        elif not self.ignore.skips_file(rel, name) and (
            entry.is_file(follow_symlinks=False) or entry.is_symlink()
        ):
            self.changes.append(Change(rel, "new"))


def _settle(
    repo: Repo, slow: list[tuple[str, os.stat_result]], changes: list[Change]
) -> list[tuple[str, StatRow]]:
    """Hash what the stat cache could not vouch for; returns refreshed stat-cache rows."""
    refreshed: list[tuple[str, StatRow]] = []
    for rel, st in slow:
        tracked = repo.index.tracked_entry(rel)
        kind = "symlink" if stat.S_ISLNK(st.st_mode) else "file"
        oid = _hash(repo, rel, st, kind, refreshed)
        if tracked is None or oid != tracked[0] or kind != tracked[1]:
            changes.append(Change(rel, "modified"))
    return refreshed


def _hash(
    repo: Repo, rel: str, st: os.stat_result, kind: str, refreshed: list[tuple[str, StatRow]]
) -> bytes:
    hashed_ns = time.time_ns()
    path = repo.abspath(rel)
    try:
        if kind == "symlink":
            from mlvc.ids import file_id

            oid = file_id(os.fsencode(os.readlink(path)))
        else:
            from mlvc.store.chunker import hash_file

            oid, _ = hash_file(path)
    except OSError:
        return b""  # unreadable now: report it as modified rather than fail the status
    row = StatRow(st.st_size, st.st_mtime_ns, st.st_ino, oid, hashed_ns, st.st_ctime_ns)
    refreshed.append((rel, row))
    return oid


def _save(repo: Repo, rows: list[tuple[str, StatRow]]) -> None:
    """Refresh the stat cache, as `git status` refreshes the index: best effort only."""
    if not rows:
        return
    with contextlib.suppress(sqlite3.OperationalError):
        repo.index.begin(durable=False)
        repo.index.put_stat_rows(rows)
        repo.index.commit()
