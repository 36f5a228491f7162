"""When a stat-cache entry may stand in for reading a workspace file, and hashing one
when it may not: the id `add` would record, with the row that vouches for it next time."""

from __future__ import annotations

import os
import time
from pathlib import Path

from mlvc.ids import ObjectId, file_id
from mlvc.store.statrows import StatRow
from mlvc.store.worktree import vouches
from mlvc.workspace.scan import FileStat


def is_clean(row: StatRow | None, st: FileStat) -> bool:
    """True when the cached id can be trusted for this stat without reading the file."""
    return (
        row is not None
        and row.size == st.size
        and row.mtime_ns == st.mtime_ns
        and row.ino == st.ino
        and row.ctime_ns == st.ctime_ns
        and vouches(st.ctime_ns, row.hashed_ns)
    )


def content_id(path: Path | str, symlink: bool) -> tuple[ObjectId, int]:
    """The id `add` records for a file (BLAKE3 of its bytes) or a symlink (of its target
    path, never followed), and its size. Raises OSError."""
    if symlink:
        target = os.fsencode(os.readlink(path))
        return file_id(target), len(target)
    from mlvc.store.chunker import hash_file

    return hash_file(path)


def hashed_row(path: Path | str, st: FileStat) -> tuple[ObjectId, StatRow] | None:
    """The id of the file `st` describes, and the stat-cache row that stands for it next
    time (stamped before reading: a change during the read makes the row racy); None when
    it cannot be read."""
    hashed_ns = time.time_ns()
    try:
        oid, _ = content_id(path, st.kind == "symlink")
    except OSError:
        return None
    return oid, StatRow(st.size, st.mtime_ns, st.ino, oid, hashed_ns, st.ctime_ns)
