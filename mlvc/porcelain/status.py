"""`mlvc status`: tracked paths modified, deleted, or new inside a tracked directory.

The hot path is one `lstat` per tracked file compared with a row of `worktree.msgpack`
(see docs/format.md). The row holds the stat fields only when the stat cache vouches for
the tracked content (same id, not racy); anything else takes the slow path and is hashed.
As in git, ignore rules decide which untracked files are reported new; a tracked file is
compared whatever they say.

An untracked file holding the very content a run recorded at its path (one a checkout
of an older run left in place) is `recorded`, not `new`: there is nothing to add. A
tracked file reported changed that the ignore rules now skip is listed in `ignored`, so
that the user learns to untrack it (`mlvc rm --cached`).
"""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation, and the first compile() of a process costs ~10 M instructions of start-up
# for every command that imports this module.

import contextlib
import errno
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any, Literal, NamedTuple

from mlvc.forked import share, worth_forking
from mlvc.heap import paused_collector
from mlvc.store.worktree import WORKTREE_ROW, worktree

TYPE_CHECKING = False
if TYPE_CHECKING:  # a clean status imports none of these (start-up is most of its time)
    from mlvc.lineage.stale import Step
    from mlvc.repo import Repo
    from mlvc.store.statrows import StatRow
    from mlvc.workspace.ignore import Ignore

State = Literal["modified", "deleted", "new", "recorded"]
_IFMT = 0o170000
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class PathState(NamedTuple):
    path: str
    state: State


class StatusResult(NamedTuple):
    changes: tuple[PathState, ...]
    tracked: int
    skipped: tuple[str, ...] = ()
    """Untracked names in tracked directories that no tree can hold (see scan.walk)."""
    ignored: tuple[str, ...] = ()
    """Tracked paths among the changes that the ignore rules now skip."""
    stale: tuple["Step", ...] = ()
    """The stale steps, upstream first (see mlvc.lineage.stale)."""

    @property
    def clean(self) -> bool:
        return not self.changes


SHARE_DIRS = 8  # directories listed before sharing them with the forked process


def status(repo: "Repo") -> StatusResult:
    table, roots, dirs = worktree(repo.db, repo.index_path)
    if not table:
        refreshed: list[tuple[str, StatRow]] = []
        stale = _stale(repo, refreshed)
        _save(repo, refreshed)
        return StatusResult((), 0, stale=stale)
    walker = _Walker(repo.root, table)
    with paused_collector():  # the walk allocates by the ten thousand: nothing cycles
        for root in roots:
            if root not in dirs:
                walker.single(root)
        walker.walk([root for root in roots if root in dirs])
    changes = walker.changes
    refreshed = _settle(repo, walker.slow, changes)
    seen = walker.seen
    if len(seen) != len(table):  # seen holds only tracked paths, each once
        changes.extend(PathState(p, "deleted") for p in table if p not in seen)
    if any(c.state == "new" for c in changes):
        changes = _recorded(repo, changes, refreshed)
    stale = _stale(repo, refreshed)
    _save(repo, refreshed)
    ordered = tuple(sorted(changes, key=lambda c: c.path))
    ignored = _ignored(repo, [c.path for c in ordered if c.state in ("modified", "deleted")])
    skipped = tuple(sorted(walker.skipped))
    return StatusResult(ordered, len(table), skipped, ignored, stale)


def _stale(repo: "Repo", refreshed: "list[tuple[str, StatRow]]") -> "tuple[Step, ...]":
    """The stale steps; with no command run recorded, one query and no import. The
    stat-cache rows of what the check hashed join `refreshed`."""
    from mlvc.store.db import has_command_runs

    if not has_command_runs(repo.db):
        return ()
    from mlvc.lineage.stale import stale_steps

    return tuple(stale_steps(repo, refreshed))


class _Walker:
    """Walks the tracked directories comparing one `lstat` per tracked file with its row.
    With FORK_MIN tracked files or more, once there are directories enough to share, a
    forked process walks every other one: those calls and the Python around them are
    nearly all of the time, and threads would share one core (the GIL)."""

    def __init__(self, root: Path, table: dict[str, bytes]) -> None:
        self.root = str(root)
        self.table = table
        self._ignore: Ignore | None = None
        self.seen: set[str] = set()
        self.slow: list[tuple[str, os.stat_result]] = []
        self.changes: list[PathState] = []
        self.skipped: list[str] = []

    def single(self, rel: str) -> None:
        try:
            st = os.lstat(os.path.join(self.root, rel))
        except (FileNotFoundError, NotADirectoryError):
            return
        if not stat.S_ISDIR(st.st_mode):
            self.seen.add(rel)
            if WORKTREE_ROW.pack(*_fields(st)) != self.table[rel]:
                self.slow.append((rel, st))

    def walk(self, tops: list[str]) -> None:
        stack = tops[::-1]
        if not worth_forking(len(self.table)):
            self._walk(stack)
            return
        while stack and len(stack) < SHARE_DIRS:
            self._walk(stack, 1)
        theirs, stack = stack[1::2], stack[0::2]
        if not theirs:
            self._walk(stack)
            return
        _, reply = share(lambda: self._walk(stack), lambda: self._share(theirs))
        if reply is None:  # no process to be had, or it died: walk its share here
            self._walk(theirs)
            return
        seen, slow, new, skipped = reply
        self.seen.update(seen.split("\0") if seen else ())
        self.changes += [PathState(rel, "new") for rel in new]
        self.skipped += [os.fsdecode(name) for name in skipped]
        for rel in slow:
            self.recheck(rel)

    def _share(self, stack: list[str]) -> list[Any]:
        """The forked process's part: [seen paths joined by NUL, slow paths, new paths,
        skipped names as bytes (msgpack cannot carry a non-UTF-8 name's surrogates)]."""
        self.seen, self.slow, self.changes, self.skipped = set(), [], [], []
        self._walk(stack)
        slow = [rel for rel, _ in self.slow]
        skipped = [os.fsencode(name) for name in self.skipped]
        return ["\0".join(self.seen), slow, [c.path for c in self.changes], skipped]

    def recheck(self, rel: str) -> None:
        """A path the forked process found changed: lstat again for the stat cache."""
        try:
            st = os.lstat(os.path.join(self.root, rel))
        except (FileNotFoundError, NotADirectoryError):
            self.seen.discard(rel)
            return
        if stat.S_ISDIR(st.st_mode):
            self.seen.discard(rel)
        else:
            self.slow.append((rel, st))

    def _walk(self, stack: list[str], limit: int = -1) -> None:
        """Walks `limit` directories of `stack` (all: -1), pushing their subdirectories."""
        while stack and limit:
            limit -= 1
            current = stack.pop()
            fd = self._open(current)
            if fd >= 0:
                try:
                    self._entries(fd, current + "/", stack)
                finally:
                    os.close(fd)

    def _open(self, rel: str) -> int:
        """A descriptor of the directory (each stat is then fstatat(dir, name), which
        skips resolving the path again), or -1 when it is no longer a directory."""
        try:
            return os.open(os.path.join(self.root, rel), _OPEN_DIR)
        except (FileNotFoundError, NotADirectoryError):
            return -1
        except PermissionError:
            from mlvc.workspace.scan import unreadable_directory

            raise unreadable_directory(rel) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # now a symlink: the files tracked in it are gone
                return -1
            raise

    def _entries(self, fd: int, prefix: str, stack: list[str]) -> None:
        """The loop runs once per file on every status: kept flat on purpose."""
        get, seen, slow, pack = self.table.get, self.seen, self.slow, WORKTREE_ROW.pack
        with os.scandir(fd) as entries:
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
                mode = st.st_mode
                if pack(st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns, mode & _IFMT) == row:
                    seen.add(rel)
                elif stat.S_ISDIR(mode):
                    stack.append(rel)  # a tracked file became a directory: deleted
                else:
                    seen.add(rel)
                    slow.append((rel, st))

    def _untracked(self, entry: os.DirEntry[str], rel: str, stack: list[str]) -> None:
        from mlvc.paths import UNSAFE_NAME
        from mlvc.workspace.ignore import Ignore
        from mlvc.workspace.scan import unsafe_entry

        name = entry.name
        if self._ignore is None:
            self._ignore = Ignore.load(Path(self.root))
        if UNSAFE_NAME.search(name):
            unsafe_entry(entry, rel[: len(rel) - len(name)], self._ignore, self.skipped)
            return
        if entry.is_dir(follow_symlinks=False):
            if not self._ignore.skips_dir(rel, name, Path(self.root, rel)):
                stack.append(rel)
        elif not self._ignore.skips_file(rel, name) and (
            entry.is_file(follow_symlinks=False) or entry.is_symlink()
        ):
            self.changes.append(PathState(rel, "new"))


def _recorded(
    repo: "Repo", changes: list[PathState], refreshed: "list[tuple[str, StatRow]]"
) -> list[PathState]:
    """The new files whose path and content a run recorded, as `recorded`. Their content
    is hashed unless the stat cache vouches for it (new files are few; this is off the
    clean status's path)."""
    from mlvc.workspace.scan import stat_of
    from mlvc.workspace.statcache import is_clean

    history = repo.index.history
    found = []
    for change in changes:
        rel = change.path
        if change.state == "new" and history.is_recorded(rel):
            try:
                st = os.lstat(repo.abspath(rel))
            except OSError:
                found.append(change)
                continue
            row = repo.index.stat_rows([rel]).get(rel)
            oid: bytes
            if row is not None and is_clean(row, stat_of(rel, st)):
                oid = row.file_id
            else:
                kind = "symlink" if stat.S_ISLNK(st.st_mode) else "file"
                oid = _hash(repo, rel, st, kind, refreshed)
            if oid and history.writer_of(oid, rel) is not None:
                change = PathState(rel, "recorded")
        found.append(change)
    return found


def _ignored(repo: "Repo", paths: list[str]) -> tuple[str, ...]:
    if not paths:
        return ()
    from mlvc.workspace.ignore import Ignore

    ignore = Ignore.load(repo.root)
    return tuple(p for p in paths if ignore.covers(p))


def _fields(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns, st.st_mode & _IFMT


def _settle(
    repo: "Repo", slow: list[tuple[str, os.stat_result]], changes: list[PathState]
) -> "list[tuple[str, StatRow]]":
    """Hash what the stat cache could not vouch for; returns refreshed stat-cache rows."""
    refreshed: list[tuple[str, StatRow]] = []
    for rel, st in slow:
        tracked = repo.index.tracked_entry(rel)
        kind = "symlink" if stat.S_ISLNK(st.st_mode) else "file"
        oid = _hash(repo, rel, st, kind, refreshed)
        if tracked is None or oid != tracked[0] or kind != tracked[1]:
            changes.append(PathState(rel, "modified"))
    return refreshed


def _hash(
    repo: "Repo", rel: str, st: os.stat_result, kind: str, refreshed: "list[tuple[str, StatRow]]"
) -> bytes:
    from mlvc.workspace.scan import stat_of
    from mlvc.workspace.statcache import hashed_row

    hashed = hashed_row(repo.abspath(rel), stat_of(rel, st))
    if hashed is None:
        return b""  # unreadable now: report it as modified rather than fail the status
    refreshed.append((rel, hashed[1]))
    return hashed[0]


def _save(repo: "Repo", rows: "list[tuple[str, StatRow]]") -> None:
    """Refresh the stat cache, as `git status` refreshes the index: best effort only."""
    if not rows:
        return
    with contextlib.suppress(sqlite3.OperationalError), repo.index.transaction(durable=False):
        repo.index.put_stat_rows(rows)
