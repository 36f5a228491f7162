"""The worktree cache `status` reads (`worktree.msgpack`, made from the index's `tracked`
and `statcache` tables) and the stat-cache rule it applies: when a stat-cache row stands
for a file's content. Kept apart from `mlvc.store.index`, as mlvc.store.db is: a clean
`status` imports only these.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct

from mlvc.store.db import batches

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable, Mapping
    from pathlib import Path
    from typing import Any

WORKTREE_FORMAT = 3
# A file modified within this window before it was hashed may be modified again without
# its mtime changing (timestamps come from a coarse clock, a jiffy of up to 10 ms behind
# the fine clock we read), so its cache entry is not trusted. File systems that store
# whole seconds (or FAT's two) need the wider window.
RACY_NS = 50_000_000
RACY_COARSE_NS = 2_000_000_000
WORKTREE_ROW = struct.Struct("<qQQqI")  # mtime_ns, size, ino, ctime_ns, file type
_FMT = {"file": stat.S_IFREG, "symlink": stat.S_IFLNK}


def racy_window(ctime_ns: int) -> int:
    return RACY_COARSE_NS if ctime_ns % 1_000_000_000 == 0 else RACY_NS


def vouches(ctime_ns: int, hashed_ns: int) -> bool:
    """The stat-cache rule: a row hashed after the racy window following the file's last
    change stands for its content as long as its stat fields are unchanged."""
    return ctime_ns < hashed_ns - racy_window(ctime_ns)


def vouched_ids(db: sqlite3.Connection, stats: Mapping[str, os.stat_result]) -> dict[str, bytes]:
    """The stat cache's content id of each path whose row vouches for the file its stat
    in `stats` describes (the rule of mlvc.workspace.statcache.is_clean), in one query
    per 500 paths: for callers that need no more of the index (the stale-step check of a
    clean `status`)."""
    found: dict[str, bytes] = {}
    paths = list(stats)
    for batch in batches(paths):
        rows = db.execute(
            "SELECT path, size, mtime_ns, ino, file_id, hashed_ns, ctime_ns FROM statcache"
            f" WHERE path IN ({','.join('?' * len(batch))})",
            batch,
        )
        for path, size, mtime_ns, ino, file_id, hashed_ns, ctime_ns in rows:
            st = stats[path]
            same = (size, mtime_ns, ino, ctime_ns) == (
                st.st_size,
                st.st_mtime_ns,
                st.st_ino,
                st.st_ctime_ns,
            )
            if same and vouches(ctime_ns, hashed_ns):
                found[path] = file_id
    return found


def _worktree_rows(rows: Iterable[tuple[Any, ...]]) -> list[Any]:
    """worktree.msgpack's payload: [{path: row}, roots, directory roots]. A row is the
    stat fields packed as WORKTREE_ROW when the stat cache vouches for the tracked
    content, else b"" (never equal): status compares one packed lstat with it."""
    table: dict[str, bytes] = {}
    roots = set()
    dirs = set()
    pack = WORKTREE_ROW.pack
    for path, root, oid, kind, size, mtime_ns, ino, file_id, hashed_ns, ctime_ns in rows:
        vouched = file_id == oid and vouches(ctime_ns, hashed_ns)
        table[path] = pack(mtime_ns, size, ino, ctime_ns, _FMT.get(kind, 0)) if vouched else b""
        roots.add(root)
        if path != root:
            dirs.add(root)
    return [table, sorted(roots), sorted(dirs)]


def worktree(db: sqlite3.Connection, path: Path) -> Any:
    """What `status` needs of every tracked file, from `worktree.msgpack` beside the
    index database at `path`: [{path: packed stat row or b""}, roots, directory roots].

    Turning the tracked and stat-cache rows into that payload is kept in
    `worktree.msgpack` and loaded in one call next time, as git reads its index file:
    turning 20k SQLite rows into Python objects took longer than the rest of a status.
    The file carries the generation it was made at; when the tables have moved on it is
    rebuilt.
    """
    import msgpack

    (generation,) = db.execute(
        "SELECT value FROM meta WHERE key = 'worktree_generation'"
    ).fetchone()
    cached = path.with_name("worktree.msgpack")
    with contextlib.suppress(OSError, ValueError, msgpack.UnpackException):
        data = msgpack.unpackb(cached.read_bytes(), raw=False, use_list=True)
        if isinstance(data, list) and data[:2] == [WORKTREE_FORMAT, generation]:
            return data[2]
    rows = db.execute(
        "SELECT t.path, t.root, t.id, t.kind, s.size, s.mtime_ns, s.ino, s.file_id,"
        " s.hashed_ns, s.ctime_ns FROM tracked t LEFT JOIN statcache s ON s.path = t.path"
    )
    payload = _worktree_rows(rows)
    tmp = cached.with_name(f"worktree.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        tmp.write_bytes(msgpack.packb([WORKTREE_FORMAT, generation, payload]))
        os.replace(tmp, cached)
    return payload
