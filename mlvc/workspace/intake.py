"""Snapshotting workspace paths into the store: files by content, directories as trees.

The stat cache spares re-reading a file whose (size, mtime, inode) are unchanged since
it was hashed, unless the file was modified so close to its hashing that a later write
could share its timestamp ("racy", as git calls it): those are hashed again.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from blake3 import blake3

from mlvc.errors import FileVanishedError, UnreadableFileError
from mlvc.forked import FORK_MIN, stream
from mlvc.ids import Kind, ObjectId
from mlvc.objects import PathRecord, Tree, TreeEntry
from mlvc.store.fsutil import read_small_file
from mlvc.store.index import TrackedFile
from mlvc.store.ingest import open_file, read_encoded
from mlvc.store.objectstore import ObjectStore
from mlvc.store.statrows import StatRow, StatRows
from mlvc.workspace.dirs import WorkspaceDirs
from mlvc.workspace.ignore import Ignore
from mlvc.workspace.scan import FileStat, stat_of, walk
from mlvc.workspace.statcache import is_clean

Progress = Callable[[int], None]
SMALL = 16 << 10  # whole-file chunks: the chunker never cuts files this small
SEND = 256  # small files per batch: stored at a time, and sent at a time by a forked reader
SLICE = 1 << 16  # files of a walk stored at a time (each slice may fork a reader)


@dataclass
class Intake:
    """Stores paths under one root; collects stat-cache rows and tracked files to record."""

    root: Path
    store: ObjectStore
    ignore: Ignore
    stat_cache: dict[str, StatRow]
    progress: Progress | None = None
    new_stats: StatRows = field(default_factory=StatRows)
    files: list[TrackedFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Names in the walked directories that no tree can hold (see scan.walk)."""
    unsteady: list[str] = field(default_factory=list)
    """Files that changed during every read: stored as last read, no stat-cache row."""
    dirs: WorkspaceDirs | None = None
    """Where given, files are stat'ed, opened and read through these directory
    descriptors, never through a symlinked directory (a checkout storing what it is
    about to replace: what it reads must be inside the workspace, as what it writes)."""

    def file_id(self, st: FileStat) -> ObjectId:
        return self.stored(st)[0]

    def stored(self, st: FileStat) -> tuple[ObjectId, int]:
        """A file's (id, size) in the store, both of the bytes stored: a file rewritten
        since `st` was taken is recorded as it was read, not as `st` says. Raises
        FileVanishedError when it was removed since."""
        row = self.stat_cache.get(st.rel)
        if is_clean(row, st) and row is not None and self.store.has(row.file_id):
            if self.progress:
                self.progress(st.size)
            return row.file_id, st.size
        hashed_ns = time.time_ns()
        if st.kind == "symlink":
            target = os.fsencode(self._readlink(st.rel))
            oid, size = self.store.put_bytes(target), len(target)
        else:
            like = row.file_id if row is not None and row.size > SMALL else None
            stored = self.store.store_file(self._open(st.rel), self.progress, like)
            oid, size = stored.id, stored.size
            if not stored.steady:
                self.unsteady.append(st.rel)
                return oid, size
        self._remember(st, oid, size, hashed_ns)
        return oid, size

    def snapshot(self, rel: str, root_rel: str) -> PathRecord:
        """Store the file, symlink or directory at `rel`; `root_rel` is the added path.
        Raises FileVanishedError when `rel` is gone; a file of a directory removed
        between the walk and its read is left out of the tree."""
        st = self.lstat(rel)
        if st is None:
            raise FileVanishedError(f"cannot read {rel}: it was removed")
        if stat.S_ISDIR(st.st_mode):
            return self._tree(rel, list(walk(self.root, rel, self.ignore, self.skipped)), root_rel)
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            raise UnreadableFileError(
                f"{rel} is not a regular file, symlink or directory (a fifo, socket or device)"
            )
        fstat = stat_of(rel, st)
        oid, size = self.stored(fstat)
        self.files.append(TrackedFile(rel, root_rel, oid, fstat.kind, size))
        return PathRecord(oid, fstat.kind, size, None, fstat.executable)  # type: ignore[arg-type]

    def lstat(self, rel: str) -> os.stat_result | None:
        """`rel`'s own stat (a symlink is not followed), or None when it is gone."""
        try:
            if self.dirs is None:
                return os.lstat(self.root / rel)
            return self.dirs.lstat(rel)
        except FileNotFoundError:
            return None

    def _open(self, rel: str) -> BinaryIO:
        if self.dirs is None:
            return open_file(os.path.join(self.root, rel))
        try:
            return open(self.dirs.open_file(rel), "rb", buffering=0)
        except FileNotFoundError:
            raise FileVanishedError(f"cannot read {rel}: it was removed") from None
        except OSError as exc:
            why = "it is a symbolic link now" if exc.errno == errno.ELOOP else exc.strerror
            raise UnreadableFileError(f"cannot read {rel}: {why}") from None

    def _readlink(self, rel: str) -> str:
        try:
            if self.dirs is None:
                return os.readlink(os.path.join(self.root, rel))
            return self.dirs.readlink(rel)
        except FileNotFoundError:
            raise FileVanishedError(f"cannot read {rel}: it was removed") from None

    def stored_many(self, stats: list[FileStat]) -> list[tuple[ObjectId, int] | None]:
        """`stored` for many files: small regular files are read, hashed and stored in
        batches with one existence query per batch. With FORK_MIN of them or more, a
        forked process reads, hashes and compresses the second half (the parent alone
        writes the pack and the index)."""
        ids: list[tuple[ObjectId, int] | None] = [None] * len(stats)
        cache = self.stat_cache
        small = [
            i
            for i, st in enumerate(stats)
            if st.kind == "file" and st.size <= SMALL and not is_clean(cache.get(st.rel), st)
        ]
        if len(small) >= FORK_MIN and hasattr(os, "fork"):
            self._store_shared(stats, small, ids)
        else:
            self._store_small(stats, small, ids)
        return [got or self._stored_if_there(st) for got, st in zip(ids, stats, strict=True)]

    def _store_shared(
        self, stats: list[FileStat], small: list[int], ids: list[tuple[ObjectId, int] | None]
    ) -> None:
        """The parent stores the first half while a forked process reads, hashes and
        encodes the second, streaming it back SEND files at a time: the parent writes
        each batch to the pack as it comes, so neither holds more than a few batches.
        What the process did not send (it died, or none could be made) is done here."""
        mine, theirs = small[: len(small) // 2], small[len(small) // 2 :]
        paths = [os.path.join(self.root, stats[i].rel) for i in theirs]
        taken = 0

        def take(sent: list[Any]) -> None:
            nonlocal taken
            hashed_ns, batch = sent
            self._store_prepared(stats, theirs[taken : taken + len(batch)], batch, ids, hashed_ns)
            taken += len(batch)

        _, whole = stream(
            lambda poll: self._store_small(stats, mine, ids, poll),
            lambda send: _send_encoded(paths, send),
            take,
        )
        if not whole:
            self._store_small(stats, theirs[taken:], ids)

    def _stored_if_there(self, st: FileStat) -> tuple[ObjectId, int] | None:
        try:
            return self.stored(st)
        except FileVanishedError:
            return None

    def _store_small(
        self,
        stats: list[FileStat],
        which: list[int],
        ids: list[tuple[ObjectId, int] | None],
        poll: Callable[[], None] | None = None,
    ) -> None:
        """Read, hash and store small files; `poll` is called between batches (to take
        what the forked process sent meanwhile). Each batch is stamped once, before its
        first read (an earlier stamp only makes more rows racy)."""
        batch: list[tuple[ObjectId, bytes]] = []
        root = str(self.root)
        hashed_ns = time.time_ns()
        for i in which:
            st = stats[i]
            try:
                data = read_small_file(os.path.join(root, st.rel))
            except OSError:
                continue  # left None: the general path reports it
            oid = ObjectId(blake3(data).digest())
            batch.append((oid, data))
            ids[i] = (oid, len(data))
            self._hashed(st, oid, len(data), hashed_ns)
            if len(batch) >= SEND:
                self.store.put_chunks(batch)
                batch = []
                hashed_ns = time.time_ns()
                if poll is not None:
                    poll()
        if batch:
            self.store.put_chunks(batch)

    def _store_prepared(
        self,
        stats: list[FileStat],
        which: list[int],
        prepared: list[list[Any] | None],
        ids: list[tuple[ObjectId, int] | None],
        hashed_ns: int,
    ) -> None:
        """What the forked process read, stamped `hashed_ns`: [id, raw length, codec,
        stored] per file."""
        batch: list[tuple[ObjectId, int, int, bytes]] = []
        for i, item in zip(which, prepared, strict=True):
            if item is None:
                continue  # unreadable there: the general path reports it
            oid, raw_len, codec, stored = item
            oid = ObjectId(oid)
            ids[i] = (oid, raw_len)
            batch.append((oid, raw_len, codec, stored))
            self._hashed(stats[i], oid, raw_len, hashed_ns)
        if batch:
            self.store.put_encoded(batch)

    def _hashed(self, st: FileStat, oid: ObjectId, size: int, hashed_ns: int) -> None:
        self._remember(st, oid, size, hashed_ns)
        if self.progress:
            self.progress(size)

    def _remember(self, st: FileStat, oid: ObjectId, size: int, hashed_ns: int) -> None:
        """A stat-cache row, unless the read found another size than `st` says: the
        file was rewritten since, and `st` does not describe the content stored."""
        if size == st.size:
            self.new_stats.add(st.rel, size, st.mtime_ns, st.ino, oid, hashed_ns, st.ctime_ns)

    def note_unsteady(self, sections: dict[str, Any]) -> dict[str, Any]:
        """`sections` of a run record, its `resources` listing the files that changed
        during every read (present only then: other records keep their bytes)."""
        if self.unsteady:
            resources = {**sections.get("resources", {})}
            resources["changed_while_stored"] = sorted(set(self.unsteady))
            sections = {**sections, "resources": resources}
        return sections

    def _tree(self, rel: str, stats: list[FileStat], root_rel: str) -> PathRecord:
        """Build the trees bottom-up from the flat walk of a directory."""
        files: dict[str, dict[str, TreeEntry]] = defaultdict(dict)
        subdirs: dict[str, set[str]] = defaultdict(set)
        for part in _slices(stats, SLICE):
            for st, got in zip(part, self.stored_many(part), strict=True):
                if got is None:
                    continue  # removed since the walk
                oid, size = got
                self.files.append(TrackedFile(st.rel, root_rel, oid, st.kind, size))
                parent, _, name = st.rel.rpartition("/")
                files[parent][name] = TreeEntry(name, st.kind, st.executable, size, oid)  # type: ignore[arg-type]
                child = parent
                while child != rel:
                    up = child.rpartition("/")[0]
                    if child in subdirs[up]:
                        break
                    subdirs[up].add(child)
                    child = up
        return self._store_tree(rel, files, subdirs)

    def _store_tree(
        self, rel: str, files: dict[str, dict[str, TreeEntry]], subdirs: dict[str, set[str]]
    ) -> PathRecord:
        """Store the trees deepest first (no recursion: any depth Linux allows works)."""
        order: list[str] = []
        stack = [rel]
        while stack:
            current = stack.pop()
            order.append(current)
            stack.extend(subdirs.get(current, ()))
        done: dict[str, PathRecord] = {}
        for current in reversed(order):
            entries = dict(files.get(current, {}))
            for sub in subdirs.get(current, ()):
                name = sub.rpartition("/")[2]
                entries[name] = TreeEntry(name, "tree", False, done[sub].size, done[sub].id)
            tree = Tree(tuple(entries[n] for n in sorted(entries)))
            oid = self.store.put_object(Kind.TREE, tree.encode())
            done[current] = PathRecord(oid, "tree", tree.size)
        return done[rel]


def _slices(items: list[FileStat], size: int) -> Iterator[list[FileStat]]:
    """`items` in order, `size` at a time, each taken out of the list as it is handed
    out: what was stored is freed while the rest is (a walk of a million files holds
    a few hundred MiB of stats)."""
    items.reverse()
    while items:
        part = items[-size:]
        del items[-size:]
        part.reverse()
        yield part


def _send_encoded(paths: list[str], send: Callable[[Any], None]) -> None:
    """The forked reader: `read_encoded` of each path, sent SEND at a time with the time
    the batch's reads began."""
    for start in range(0, len(paths), SEND):
        hashed_ns = time.time_ns()
        send([hashed_ns, [read_encoded(p) for p in paths[start : start + SEND]]])
