"""What a checkout is asked to write, what it learns of each file it wrote, and the names
it must never write through."""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation, and the first compile() of a process costs start-up (see cli/fast.py).

import os
from typing import NamedTuple

from mlvc.errors import UnsafePathError
from mlvc.ids import ObjectId
from mlvc.workspace.ignore import CHECKOUT_TEMP_PREFIX

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
