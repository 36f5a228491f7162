"""Putting recorded files into a workspace: atomic writes, exec bits, symlinks, safe parents.

Every file is written to a temporary name in its own directory and renamed into place,
so a reader (or a crash) sees the old file or the new one, never half of one. The
directories written to are listed in `.mlvc/tmp/checkout/dirs` first: the next checkout
removes the temporary files a killed one left there (the ignore rules hide them until
then). A file where the plan found nothing is written as an unnamed inode in its
directory (`O_TMPFILE`) and linked under its name once whole: no rename, nothing left
behind by a crash, and a file created there meanwhile is kept (the link fails); where
the file system cannot, the temporary name is used.

Every write, rename and removal goes through a directory descriptor reached one
component at a time without following a symlink (`workspace.dirs`): nothing is written or
deleted outside the workspace, whatever a recorded path or the workspace holds.

A target may be given the state it was planned against (`expected`): just before the
rename it is checked again, and a file that changed meanwhile (an edit made while the
checkout ran) is left in place and reported, never overwritten unseen.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from mlvc.errors import UnsafePathError
from mlvc.store.fsutil import disk_errors, disk_full, write_all
from mlvc.store.objectstore import ObjectStore
from mlvc.store.restore import write_file
from mlvc.workspace.batches import WORKERS, ManyFiles, Progress
from mlvc.workspace.dirs import WorkspaceDirs
from mlvc.workspace.records import (
    RecordedFile,
    WrittenFile,
    is_temporary,
    split_path,
    temporary_name,
    written,
)
from mlvc.workspace.scan import FileStat
from mlvc.workspace.staging import Staging, under

if TYPE_CHECKING:
    pass

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_UNNAMED = getattr(os, "O_TMPFILE", 0) | os.O_WRONLY | os.O_CLOEXEC  # 0 where unsupported
_NO_UNNAMED = frozenset((errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL))


class _NoUnnamedFiles(Exception):
    """The file system (or a missing /proc) does not allow O_TMPFILE and linkat."""


class Materializer(ManyFiles):
    def __init__(
        self,
        store: ObjectStore,
        root: Path,
        scratch: Path,
        follow_symlinks: bool = False,
        expected: Mapping[str, FileStat | None] | None = None,
    ) -> None:
        """`expected`: path -> the file it was planned against (None: absent); a target
        found otherwise just before its rename is not written (`None` in the results).
        Paths it does not name are not checked."""
        self.store = store
        self.root = str(root)
        self.scratch = scratch
        self.journal = scratch / "dirs"
        self.dirs = WorkspaceDirs(self.root, follow_symlinks)
        self.expected = expected
        self._counter = itertools.count(1)
        self._pid = os.getpid()
        self._journaled: set[str] = set()
        self._log: BinaryIO | None = None
        self._unnamed = _UNNAMED & ~(os.O_WRONLY | os.O_CLOEXEC) != 0  # O_TMPFILE, until refused
        self._threads = WORKERS
        self.staging = Staging(self.dirs, self._temp_name)

    def prepare(self) -> None:
        """Remove the temporary files a killed checkout left (the caller holds the
        workspace lock, so no live checkout owns them)."""
        with contextlib.suppress(FileNotFoundError):
            for line in self.journal.read_bytes().splitlines():
                self._clear_temporary(os.fsdecode(line))
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True)

    def cleanup(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        self.dirs.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def write(
        self, want: RecordedFile, progress: Progress | None = None, data: bytes | None = None
    ) -> WrittenFile | None:
        """Write `want` atomically; the stat of the new file, or None when the target
        changed since it was planned (it is kept as it is). `data`: the content, already
        read and verified."""
        parent, name = split_path(want.path)
        stand_in = self.staging.staged(parent)
        if stand_in is not None:
            return self._write_aside(stand_in, name, want, progress, data)
        fd, owned = self.dirs.open(parent, create=True)
        try:
            if self._unnamed and want.kind == "file" and self._planned_absent(want.path):
                try:
                    return self._link_new(fd, name, want, progress, data)
                except _NoUnnamedFiles:
                    self._unnamed = False
            tmp = self._temp_name(parent)
            try:
                with disk_errors(want.path):
                    self._write_temp(fd, tmp, want, progress, data)
                    if not self._unchanged(fd, name, want.path):
                        os.unlink(tmp, dir_fd=fd)
                        return None
                    os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=fd)
                raise
            return written(os.stat(name, dir_fd=fd, follow_symlinks=False))
        finally:
            if owned:
                os.close(fd)

    def write_many(
        self, wants: list[RecordedFile], progress: Progress | None = None
    ) -> list[WrittenFile | None]:
        """As ManyFiles.write_many, with the directories it creates built aside
        (workspace/staging.py). The files of a new directory found taken meanwhile are
        written again into what is there, one by one, as any other file is."""
        self.staging.stage({w.path.rpartition("/")[0] for w in wants})
        try:
            results = super().write_many(wants, progress)
        except BaseException:
            self.staging.discard()
            raise
        taken = self.staging.unstage()
        if taken:
            again = [i for i, w in enumerate(wants) if under(w.path, taken)]
            redone = super().write_many([wants[i] for i in again])
            for i, st in zip(again, redone, strict=True):
                results[i] = st
        return results

    def _write_aside(
        self,
        stand_in: str,
        name: str,
        want: RecordedFile,
        progress: Progress | None,
        data: bytes | None,
    ) -> WrittenFile:
        """Write `want` in a directory being built aside: created under its own name
        (nobody else sees the directory yet)."""
        fd, owned = self.dirs.open(stand_in, create=True)
        try:  # (not `disk_errors`: a generator context costs 10 ms in 10,000 files)
            if want.kind == "symlink":
                _, target = self.store.get(want.id)
                os.symlink(os.fsdecode(target), name, dir_fd=fd)
                return written(os.stat(name, dir_fd=fd, follow_symlinks=False))
            out = os.open(name, _CREATE, 0o777 if want.executable else 0o666, dir_fd=fd)
            try:
                self._fill(out, want, progress, data)
                return written(os.fstat(out))
            finally:
                os.close(out)
        except OSError as exc:
            full = disk_full(exc, want.path)
            if full is None:
                raise
            raise full from None
        finally:
            if owned:
                os.close(fd)

    def _planned_absent(self, path: str) -> bool:
        return self.expected is not None and self.expected[path] is None

    def _link_new(
        self, fd: int, name: str, want: RecordedFile, progress: Progress | None, data: bytes | None
    ) -> WrittenFile | None:
        """Write a file where the plan found nothing as an unnamed inode, then link it
        under `name`: its stat; None when a file appeared there meanwhile (kept as it
        is). _NoUnnamedFiles when this system cannot (a temporary name will do)."""
        mode = 0o777 if want.executable else 0o666
        try:
            out = os.open(".", _UNNAMED, mode, dir_fd=fd)
        except OSError as exc:
            if exc.errno not in _NO_UNNAMED:
                raise disk_full(exc, want.path) or exc from None
            raise _NoUnnamedFiles from None
        try:
            with disk_errors(want.path):
                self._fill(out, want, progress, data)
                try:
                    os.link(f"/proc/self/fd/{out}", name, dst_dir_fd=fd, follow_symlinks=True)
                except FileExistsError:
                    return None  # created meanwhile: nothing to lose, nothing replaced
                except FileNotFoundError:  # no /proc
                    raise _NoUnnamedFiles from None
                return written(os.fstat(out))
        finally:
            os.close(out)

    def _write_temp(
        self, fd: int, tmp: str, want: RecordedFile, progress: Progress | None, data: bytes | None
    ) -> None:
        if want.kind == "symlink":
            _, target = self.store.get(want.id)
            os.symlink(os.fsdecode(target), tmp, dir_fd=fd)
            return
        out = os.open(tmp, _CREATE, 0o777 if want.executable else 0o666, dir_fd=fd)
        try:
            self._fill(out, want, progress, data)
        finally:
            os.close(out)

    def _fill(
        self, out: int, want: RecordedFile, progress: Progress | None, data: bytes | None
    ) -> None:
        if data is not None:
            write_all(out, data)
            written = len(data)
        else:
            written = write_file(self.store, want.id, out, progress)
        if want.size >= 0 and written != want.size:
            raise UnsafePathError(f"{want.path}: recorded size differs from its content")

    def _unchanged(self, fd: int, name: str, path: str) -> bool:
        """The target is as the plan saw it: the last look before it is replaced."""
        if self.expected is None or path not in self.expected:
            return True
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return True  # deleted meanwhile: nothing to lose
        return self._as_planned(st, path)

    def _as_planned(self, st: os.stat_result, path: str) -> bool:
        if self.expected is None or path not in self.expected:
            return True
        seen = self.expected[path]
        if seen is None:
            return False  # created meanwhile
        return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns) == (
            seen.size,
            seen.mtime_ns,
            seen.ino,
            seen.ctime_ns,
        )

    def _temp_name(self, parent: str) -> str:
        """A temporary name in the target's own directory: the rename never crosses file
        systems, and new inodes come from that directory's block group. The directory
        is journaled first, so the next checkout can remove what a killed one left."""
        if parent not in self._journaled:
            if self._log is None:
                self._log = open(self.journal, "ab", buffering=0)  # noqa: SIM115
            self._log.write(os.fsencode(parent) + b"\n")
            self._journaled.add(parent)
        return temporary_name(self._pid, next(self._counter))

    def set_mode(self, path: str, executable: bool) -> WrittenFile:
        parent, name = split_path(path)
        fd, owned = self.dirs.open(parent, create=False)
        try:
            # O_PATH is enough for fstat and never follows a last-component symlink.
            target = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            try:
                st = os.fstat(target)
                if not stat.S_ISREG(st.st_mode):
                    raise UnsafePathError(f"{path} is no longer a regular file")
                current = stat.S_IMODE(st.st_mode)
                # x where r is set, as git does: 0644 becomes 0755, 0600 becomes 0700.
                mode = current | ((current & 0o444) >> 2) if executable else current & ~0o111
                os.chmod(f"/proc/self/fd/{target}", mode)
                return written(os.fstat(target))
            finally:
                os.close(target)
        finally:
            if owned:
                os.close(fd)

    def remove(self, path: str) -> bool:
        """Delete a file, symlink or directory tree at `path` (never through a symlink).
        False, and nothing deleted, when the file is not as `expected` says."""
        parent, name = split_path(path)
        try:
            fd, owned = self.dirs.open(parent, create=False)
        except (FileNotFoundError, NotADirectoryError):
            return True  # its directory is gone: so is it
        try:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return True
            if stat.S_ISDIR(st.st_mode):
                self.dirs.forget(path)
                # With dir_fd, rmtree walks by descriptors and never follows a symlink.
                shutil.rmtree(name, dir_fd=fd)
            elif not self._as_planned(st, path):
                return False
            else:
                os.unlink(name, dir_fd=fd)
            return True
        finally:
            if owned:
                os.close(fd)

    def _clear_temporary(self, directory: str) -> None:
        with contextlib.suppress(OSError, UnsafePathError):
            fd, owned = self.dirs.open(directory, create=False)
            try:
                for name in os.listdir(fd):
                    if is_temporary(name):
                        with contextlib.suppress(OSError):
                            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                            if stat.S_ISDIR(st.st_mode):
                                shutil.rmtree(name, dir_fd=fd)  # a stand-in (staging.py)
                            else:
                                os.unlink(name, dir_fd=fd)
            finally:
                if owned:
                    os.close(fd)
