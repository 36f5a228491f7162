"""Putting recorded files into a workspace: atomic writes, exec bits, symlinks, safe parents.

Every file is written to a temporary name and renamed into place, so a reader (or a
crash) sees the old file or the new one, never half of one. Temporary files live in one
directory under `.mlvc/tmp` owned by the checkout in progress, so a killed checkout leaves
nothing in the workspace; the next one clears it. Parent directories are created one
component at a time and never followed through a symlink: nothing is written outside
the workspace whatever a recorded path or the workspace holds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from mlvc.errors import UnsafePathError
from mlvc.ids import ObjectId
from mlvc.store.fsutil import disk_errors
from mlvc.store.objectstore import ObjectStore
from mlvc.store.restore import write_file

Progress = Callable[[int], None]


class Want(NamedTuple):
    """One file or symlink the workspace should hold."""

    path: str
    kind: str  # "file" or "symlink"
    id: ObjectId
    size: int  # -1: not recorded (scripts), not checked
    executable: bool
    root: str  # the recorded path it belongs to (itself, or the directory holding it)


class Materializer:
    def __init__(self, store: ObjectStore, root: Path, scratch: Path) -> None:
        self.store = store
        self.root = root
        self.scratch = scratch
        self._count = 0
        self._dirs: set[str] = {""}

    def prepare(self) -> None:
        """Clear what a killed checkout left in the scratch directory (the caller holds
        the workspace lock, so no live checkout owns it)."""
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True)

    def cleanup(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    def write(self, want: Want, progress: Progress | None = None) -> os.stat_result:
        """Write `want` atomically; returns the stat of the new file."""
        self.make_parents(want.path)
        target = self.root / want.path
        tmp = self._temp_name()
        try:
            with disk_errors(target):
                if want.kind == "symlink":
                    _, data = self.store.get(want.id)
                    os.symlink(os.fsdecode(data), tmp)
                else:
                    self._write_file(tmp, want, progress)
            try:
                os.replace(tmp, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                tmp = self._beside(tmp, target)  # .mlvc on another file system
                os.replace(tmp, target)
        except BaseException:
            _remove(tmp)
            raise
        return os.lstat(target)

    def _write_file(self, tmp: Path, want: Want, progress: Progress | None) -> None:
        mode = 0o777 if want.executable else 0o666
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            written = write_file(self.store, want.id, fd, progress)
            if want.size >= 0 and written != want.size:
                raise UnsafePathError(f"{want.path}: recorded size differs from its content")
        finally:
            os.close(fd)

    def _temp_name(self) -> Path:
        self._count += 1
        return self.scratch / f"{self._count}"

    def _beside(self, tmp: Path, target: Path) -> Path:
        near = target.parent / f".{target.name}.mlvc-{os.getpid()}.tmp"
        shutil.move(tmp, near)
        return near

    def set_mode(self, path: str, executable: bool) -> os.stat_result:
        target = self.root / path
        current = stat.S_IMODE(os.lstat(target).st_mode)
        # x where r is set, as git does: 0644 becomes 0755, 0600 becomes 0700.
        os.chmod(target, current | ((current & 0o444) >> 2) if executable else current & ~0o111)
        return os.lstat(target)

    def make_parents(self, path: str) -> None:
        """Create the directories above `path`; each must be a real directory (callers
        remove files and symlinks in the way first)."""
        parent = path.rpartition("/")[0]
        if parent in self._dirs:
            return
        built = ""
        for name in parent.split("/"):
            built = f"{built}/{name}" if built else name
            if built in self._dirs:
                continue
            where = self.root / built
            try:
                os.mkdir(where)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(where).st_mode):
                    raise UnsafePathError(
                        f"{built} is in the way of {path} (a file or symlink, not a directory)"
                    ) from None
            self._dirs.add(built)

    def remove(self, path: str) -> None:
        """Delete a file, symlink or directory tree at `path` (never through a symlink)."""
        target = self.root / path
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(target)
            self._dirs = {d for d in self._dirs if d != path and not d.startswith(path + "/")}
        else:
            os.unlink(target)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
