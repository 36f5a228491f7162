"""Directory descriptors inside a workspace, reached one component at a time without
following a symlink: the only way mlvc writes or removes workspace files.

A path string such as `data/old.csv` is resolved by the kernel through every symlink on
the way, so `unlink(root + "/data/old.csv")` deletes outside the workspace when `data` is
a link to another disk. Here every directory is opened with `O_NOFOLLOW` relative to its
parent's descriptor, and files are then created, renamed and removed relative to that
descriptor (`openat`, `renameat`, `unlinkat`): a symlink met on the way is an error, never
a door, even if it was swapped in after the checkout was planned. The caller may opt in to
following symlinked directories (a data directory moved to a bigger disk); a symlink in
the last component is never followed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Callable
from typing import TypeVar

from mlvc.errors import MlvcError, UnsafePathError

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_T = TypeVar("_T")
MAX_CACHED = 512  # directory descriptors kept open; past this each use opens and closes


class SymlinkedDirectoryError(MlvcError):
    """A workspace path goes through a symbolic link (or a file) where a directory is."""


def link_error(link: str, target: str | None) -> SymlinkedDirectoryError:
    where = f" to {target}" if target is not None else ""
    return SymlinkedDirectoryError(
        f"{link} is a symbolic link{where}: mlvc never writes or deletes through a symlink",
        hint="replace the link with a real directory, or run again with --follow-symlinks"
        " to write through it",
    )


class WorkspaceDirs:
    """Open directories of one workspace by relative path ("" is the root). Thread-safe;
    a forked child inherits the descriptors and may use them."""

    def __init__(self, root: str, follow_symlinks: bool = False) -> None:
        self.root = root
        self.follow = follow_symlinks
        self._fds: dict[str, int] = {"": os.open(root, _OPEN_DIR)}
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()

    def forget(self, rel: str) -> None:
        """Drop the descriptors of `rel` and below (the directory is being removed)."""
        with self._lock:
            for key in [k for k in self._fds if k == rel or k.startswith(rel + "/")]:
                if key:
                    os.close(self._fds.pop(key))

    def open(self, rel: str, create: bool) -> tuple[int, bool]:
        """The descriptor of directory `rel` and whether the caller must close it.
        Missing components are made when `create`, else FileNotFoundError."""
        with self._lock:
            fd = self._fds.get(rel)
            if fd is not None:
                return fd, False
            base, fd = self._deepest_open(rel)
            owned = False
            for name in rel[len(base) :].lstrip("/").split("/"):
                base = f"{base}/{name}" if base else name
                child = self._open_child(fd, name, base, create)
                if owned:
                    os.close(fd)
                if len(self._fds) < MAX_CACHED:
                    self._fds[base] = child
                    owned = False
                else:
                    owned = True
                fd = child
            return fd, owned

    def lstat(self, rel: str) -> os.stat_result:
        """The stat of `rel` itself (a symlink is not followed)."""
        return self._in_parent(
            rel, lambda name, fd: os.stat(name, dir_fd=fd, follow_symlinks=False)
        )

    def open_file(self, rel: str) -> int:
        """`rel` opened for reading: ELOOP when it is a symlink."""
        return self._in_parent(rel, lambda name, fd: os.open(name, _READ, dir_fd=fd))

    def readlink(self, rel: str) -> str:
        return self._in_parent(rel, lambda name, fd: os.readlink(name, dir_fd=fd))

    def _in_parent(self, rel: str, call: Callable[[str, int], _T]) -> _T:
        """`call(name, descriptor of the directory holding rel)`; FileNotFoundError when
        that directory is missing."""
        parent, _, name = rel.rpartition("/")
        fd, owned = self.open(parent, create=False)
        try:
            return call(name, fd)
        finally:
            if owned:
                os.close(fd)

    def _deepest_open(self, rel: str) -> tuple[str, int]:
        base = rel
        while base:
            base = base.rpartition("/")[0]
            if base in self._fds:
                return base, self._fds[base]
        return "", self._fds[""]

    def _open_child(self, parent: int, name: str, rel: str, create: bool) -> int:
        if name in ("", ".", ".."):  # O_NOFOLLOW does not stop `..`
            raise UnsafePathError(f"unsafe workspace path {rel!r}")
        flags = _OPEN_DIR if self.follow else _OPEN_DIR | os.O_NOFOLLOW
        for _ in range(2):
            try:
                return os.open(name, flags, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):  # made meanwhile: open it
                    os.mkdir(name, dir_fd=parent)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise self._in_the_way(parent, name, rel) from None
                raise
        return os.open(name, flags, dir_fd=parent)

    def _in_the_way(self, parent: int, name: str, rel: str) -> MlvcError:
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except OSError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            try:
                target: str | None = os.readlink(name, dir_fd=parent)
            except OSError:
                target = None
            return link_error(rel, target)
        return SymlinkedDirectoryError(
            f"{rel} is a file where a directory is needed",
            hint="move it aside and run the command again",
        )
