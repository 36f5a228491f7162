"""What a checkout is asked to write, what it learns of each file it wrote, and the names
it must never write through."""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation, and the first compile() of a process costs start-up (see cli/fast.py).

import os
from collections.abc import Mapping
from typing import NamedTuple

from mlvc.errors import UnsafePathError
from mlvc.ids import ObjectId
from mlvc.workspace.ignore import CHECKOUT_TEMP_PREFIX
from mlvc.workspace.scan import FileStat

_BAD_NAMES = frozenset(("", ".", ".."))


class RecordedFile(NamedTuple):
    """One file or symlink the workspace should hold."""

    path: str
    kind: str  # "file" or "symlink"
    id: ObjectId
    size: int  # -1: not recorded (scripts), not checked
    executable: bool
    root: str  # the recorded path it belongs to (itself, or the directory holding it)


class WrittenFile(NamedTuple):
    """What the stat cache needs of a file just written."""

    st_size: int
    st_mtime_ns: int
    st_ino: int
    st_ctime_ns: int


def written(st: os.stat_result) -> WrittenFile:
    return WrittenFile(st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def split_path(path: str) -> tuple[str, str]:
    """(parent, name) of a workspace path; `..`, `.` and empty components are refused
    here too, whatever validated the path before (O_NOFOLLOW does not stop `..`)."""
    parent, _, name = path.rpartition("/")
    if (
        name in _BAD_NAMES
        or path[0] == "/"
        or (parent and not _BAD_NAMES.isdisjoint(parent.split("/")))
    ):
        raise UnsafePathError(f"unsafe workspace path {path!r}")
    return parent, name


def temporary_name(pid: int, n: int) -> str:
    """The `n`th temporary name of process `pid` (unique among the writers of a checkout)."""
    return f"{CHECKOUT_TEMP_PREFIX}{pid}-{n}.tmp"


def is_temporary(name: str) -> bool:
    """A checkout's temporary file: never tracked, never reported, removed when found."""
    return name.startswith(CHECKOUT_TEMP_PREFIX) and name.endswith(".tmp")


class Expected(dict[str, FileStat | None]):
    """What each path a checkout writes or removes is expected to be: as the plan found
    it (`doomed`), else absent, unless set since. Not a dict of every path: a checkout of
    a million new files would hold a million entries saying "absent"."""

    def __init__(self, doomed: Mapping[str, FileStat]) -> None:
        super().__init__()
        self.doomed = doomed

    def __contains__(self, path: object) -> bool:
        return True  # every path the writer is given was planned

    def __missing__(self, path: str) -> FileStat | None:
        return self.doomed.get(path)
