"""Putting recorded files into a workspace: atomic writes, exec bits, symlinks, safe parents.

Every file is written to a temporary name in its own directory and renamed into place,
so a reader (or a crash) sees the old file or the new one, never half of one. The
directories written to are listed in `.mlvc/tmp/checkout/dirs` first: the next checkout
removes the temporary files a killed one left there (the ignore rules hide them until
then). Parent directories are created one
component at a time and never followed through a symlink: nothing is written outside
the workspace whatever a recorded path or the workspace holds.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, NamedTuple

from mlvc.errors import UnsafePathError
from mlvc.forked import FORK_MIN, share
from mlvc.ids import Kind, ObjectId
from mlvc.store.fsutil import disk_errors, disk_full, write_all
from mlvc.store.objectstore import ObjectStore
from mlvc.store.restore import read_small, write_file
from mlvc.workspace.ignore import CHECKOUT_TEMP_PREFIX

Progress = Callable[[int], None]
WORKERS = 2
BATCH = 2048  # small files read from the packs at a time (a few MiB)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW


class Want(NamedTuple):
    """One file or symlink the workspace should hold."""

    path: str
    kind: str  # "file" or "symlink"
    id: ObjectId
    size: int  # -1: not recorded (scripts), not checked
    executable: bool
    root: str  # the recorded path it belongs to (itself, or the directory holding it)


class Landed(NamedTuple):
    """What the stat cache needs of a file just written."""

    st_size: int
    st_mtime_ns: int
    st_ino: int
    st_ctime_ns: int


def _landed(st: os.stat_result) -> Landed:
    return Landed(st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


class Materializer:
    def __init__(self, store: ObjectStore, root: Path, scratch: Path) -> None:
        self.store = store
        self.root = str(root)
        self.scratch = scratch
        self.journal = scratch / "dirs"
        self._counter = itertools.count(1)
        self._pid = os.getpid()
        self._dirs: set[str] = {""}
        self._journaled: set[str] = set()
        self._log: BinaryIO | None = None

    def prepare(self) -> None:
        """Remove the temporary files a killed checkout left (the caller holds the
        workspace lock, so no live checkout owns them)."""
        with contextlib.suppress(FileNotFoundError):
            for line in self.journal.read_bytes().splitlines():
                _clear_temporary(os.path.join(self.root, os.fsdecode(line)))
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True)

    def cleanup(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self.scratch, ignore_errors=True)

    def write_many(self, wants: list[Want], progress: Progress | None = None) -> list[Landed]:
        """`write` for many files. Small files are read from the packs a batch at a time
        (neighbours in one call) and written on WORKERS threads: creating, writing and
        renaming a small file is mostly system-call time, which threads overlap. With
        many small files, a forked worker process takes the second half of them: the
        Python around each system call then runs on two cores."""
        if progress is not None:
            progress = _locked(progress)
        if len(wants) < FORK_MIN or not hasattr(os, "fork"):
            return self._write_all(wants, progress)
        small = [i for i, w in enumerate(wants) if self._single_chunk(w)]
        handed = small[len(small) // 2 :]
        theirs = [wants[i] for i in handed]
        mine = set(handed)
        own = [w for i, w in enumerate(wants) if i not in mine]
        written, reply = share(
            lambda: self._write_all(own, progress),
            lambda: [list(x) for x in self._forked_write(theirs)],
            die_with_parent=True,  # it writes too: it must not outlive the lock
        )
        results = dict(zip((id(w) for w in own), written, strict=True))
        if reply is None:  # no process to be had, or it died: write its share here
            reply = self._write_all(theirs, progress)
        elif progress is not None:
            progress(sum(max(w.size, 0) for w in theirs))
        for want, row in zip(theirs, reply, strict=True):
            results[id(want)] = Landed(*row)
        return [results[id(w)] for w in wants]

    def _forked_write(self, wants: list[Want]) -> list[Landed]:
        """The forked process's share: its temporary names carry its own pid, so they
        never meet the parent's in a directory both write to."""
        self._pid = os.getpid()
        return self._write_all(wants, None)

    def _single_chunk(self, want: Want) -> bool:
        """Known (prefetched) to be one chunk: the worker must never touch the index
        (an SQLite connection does not survive a fork)."""
        loc = self.store.known(want.id)
        return want.kind == "file" and loc is not None and loc.entry.kind is Kind.CHUNK

    def _write_all(self, wants: list[Want], progress: Progress | None) -> list[Landed]:
        results: list[Landed] = []
        for start in range(0, len(wants), BATCH):
            batch = wants[start : start + BATCH]
            small = read_small(self.store, [w.id for w in batch if w.kind == "file"])
            results += self._write_batch(batch, small, progress)
        return results

    def _write_batch(
        self, batch: list[Want], small: dict[bytes, bytes], progress: Progress | None
    ) -> list[Landed]:
        results: list[Landed | None] = [None] * len(batch)
        failed: list[BaseException] = []

        share = -(-len(batch) // WORKERS)

        def work(first: int) -> None:
            for i in range(first, min(first + share, len(batch))):
                if failed:
                    return
                want = batch[i]
                data = small.get(want.id) if want.kind == "file" else None
                try:
                    if data is None:
                        results[i] = self.write(want, progress)
                    else:
                        results[i] = self._write_bytes(want, data)
                        if progress is not None:
                            progress(len(data))
                except BaseException as exc:
                    failed.append(exc)
                    return

        threads = [threading.Thread(target=work, args=(n * share,)) for n in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failed:
            raise failed[0]
        return [r for r in results if r is not None]

    def _write_bytes(self, want: Want, data: bytes) -> Landed:
        """`write` of content already read and verified, with as few calls as it takes."""
        if want.size >= 0 and len(data) != want.size:
            raise UnsafePathError(f"{want.path}: recorded size differs from its content")
        parent = self.make_parents(want.path)
        target = f"{self.root}/{want.path}"
        tmp = self._temp_name(parent)
        try:
            fd = os.open(tmp, _CREATE, 0o777 if want.executable else 0o666)
            try:
                write_all(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except OSError as exc:
            _remove(tmp)
            full = disk_full(exc, target)
            if full is None:
                raise
            raise full from None
        except BaseException:
            _remove(tmp)
            raise
        return _landed(os.lstat(target))

    def write(self, want: Want, progress: Progress | None = None) -> Landed:
        """Write `want` atomically; returns the stat of the new file."""
        parent = self.make_parents(want.path)
        target = f"{self.root}/{want.path}"
        tmp = self._temp_name(parent)
        try:
            with disk_errors(target):
                if want.kind == "symlink":
                    _, data = self.store.get(want.id)
                    os.symlink(os.fsdecode(data), tmp)
                else:
                    self._write_file(tmp, want, progress)
            os.replace(tmp, target)
        except BaseException:
            _remove(tmp)
            raise
        return _landed(os.lstat(target))

    def _write_file(self, tmp: str, want: Want, progress: Progress | None) -> None:
        mode = 0o777 if want.executable else 0o666
        fd = os.open(tmp, _CREATE, mode)
        try:
            written = write_file(self.store, want.id, fd, progress)
            if want.size >= 0 and written != want.size:
                raise UnsafePathError(f"{want.path}: recorded size differs from its content")
        finally:
            os.close(fd)

    def _temp_name(self, parent: str) -> str:
        """A temporary name in the target's own directory: the rename never crosses file
        systems, and new inodes come from that directory's block group. The directory
        is journaled first, so the next checkout can remove what a killed one left."""
        if parent not in self._journaled:
            if self._log is None:
                self._log = open(self.journal, "ab", buffering=0)  # noqa: SIM115
            self._log.write(os.fsencode(parent) + b"\n")
            self._journaled.add(parent)
        where = f"{self.root}/{parent}" if parent else self.root
        return f"{where}/{CHECKOUT_TEMP_PREFIX}{self._pid}-{next(self._counter)}.tmp"

    def set_mode(self, path: str, executable: bool) -> Landed:
        target = os.path.join(self.root, path)
        current = stat.S_IMODE(os.lstat(target).st_mode)
        # x where r is set, as git does: 0644 becomes 0755, 0600 becomes 0700.
        os.chmod(target, current | ((current & 0o444) >> 2) if executable else current & ~0o111)
        return _landed(os.lstat(target))

    def make_parents(self, path: str) -> str:
        """Create the directories above `path` and return its parent; each must be a real
        directory (callers remove files and symlinks in the way first)."""
        parent = path.rpartition("/")[0]
        if parent in self._dirs:
            return parent
        built = ""
        for name in parent.split("/"):
            built = f"{built}/{name}" if built else name
            if built in self._dirs:
                continue
            where = os.path.join(self.root, built)
            try:
                os.mkdir(where)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(where).st_mode):
                    raise UnsafePathError(
                        f"{built} is in the way of {path} (a file or symlink, not a directory)"
                    ) from None
            self._dirs.add(built)
        return parent

    def remove(self, path: str) -> None:
        """Delete a file, symlink or directory tree at `path` (never through a symlink)."""
        target = os.path.join(self.root, path)
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(target)
            self._dirs = {d for d in self._dirs if d != path and not d.startswith(path + "/")}
        else:
            os.unlink(target)


def _locked(progress: Progress) -> Progress:
    lock = threading.Lock()

    def report(n: int) -> None:
        with lock:
            progress(n)

    return report


def _clear_temporary(directory: str) -> None:
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            if is_temporary(entry.name):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def is_temporary(name: str) -> bool:
    """A checkout's temporary file: never tracked, never reported, removed when found."""
    return name.startswith(CHECKOUT_TEMP_PREFIX) and name.endswith(".tmp")


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
