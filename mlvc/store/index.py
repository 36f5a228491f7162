"""The SQLite index: object locations, the stat cache and tracked paths. A rebuildable cache."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from mlvc.errors import MlvcError
from mlvc.ids import Kind, ObjectId
from mlvc.store.entry import Entry

_KINDS = {int(k): k for k in Kind}  # a dict lookup: Kind(n) costs a microsecond per row
SCHEMA_VERSION = 3
WORKTREE_FORMAT = 3
SCHEMA = """
CREATE TABLE IF NOT EXISTS packs (
    no INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS objects (
    id BLOB PRIMARY KEY,
    pack INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    codec INTEGER NOT NULL,
    raw_len INTEGER NOT NULL,
    stored_len INTEGER NOT NULL,
    chk BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS statcache (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    file_id BLOB NOT NULL,
    hashed_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id BLOB NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    started TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started, id);
CREATE TABLE IF NOT EXISTS path_versions (
    path TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id BLOB NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (path, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS path_versions_id ON path_versions (id);
CREATE TABLE IF NOT EXISTS inputs (
    seq INTEGER NOT NULL,
    path TEXT NOT NULL,
    id BLOB NOT NULL,
    producer BLOB,
    PRIMARY KEY (seq, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS inputs_id ON inputs (id);
CREATE TABLE IF NOT EXISTS tracked (
    path TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    id BLOB NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tracked_root ON tracked (root);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta VALUES ('worktree_generation', 0);
"""


@dataclass(frozen=True, slots=True)
class Location:
    pack: str
    entry: Entry


class StatRow(NamedTuple):
    """NamedTuples for the rows status loads by the ten thousand: cheap to build."""

    size: int
    mtime_ns: int
    ino: int
    file_id: ObjectId
    hashed_ns: int
    ctime_ns: int


class TrackedFile(NamedTuple):
    path: str
    root: str
    id: ObjectId
    kind: str
    size: int


class Index:
    """One connection to `.mlvc/index.db` in WAL mode; many processes may share the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # check_same_thread=False: `mlvc run` records the code on a helper thread while
            # the main thread only waits for the command; the connection is never shared
            # by two threads at once.
            self.db = sqlite3.connect(
                path, timeout=60, isolation_level=None, check_same_thread=False
            )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self.db.executescript(SCHEMA)
                self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise MlvcError(
                    f"index {path} has schema {version}, this mlvc knows {SCHEMA_VERSION}",
                    hint="upgrade mlvc"
                    if version > SCHEMA_VERSION
                    else "this repository was made by an older mlvc; it has no upgrade path yet",
                )
        except sqlite3.DatabaseError as exc:
            raise MlvcError(
                f"index {path} cannot be opened: {exc}",
                hint="move .mlvc/index.db aside and report this; the packs still hold every object",
            ) from None
        self._packs: dict[int, str] = {}

    def close(self) -> None:
        self.db.close()

    # -- objects -------------------------------------------------------------------

    def locate(self, oid: bytes) -> Location | None:
        row = self.db.execute(
            "SELECT p.name, o.kind, o.codec, o.offset, o.raw_len, o.stored_len, o.chk "
            "FROM objects o JOIN packs p ON p.no = o.pack WHERE o.id = ?",
            (oid,),
        ).fetchone()
        if row is None:
            return None
        name, kind, codec, offset, raw_len, stored_len, chk = row
        return Location(
            name, Entry(ObjectId(oid), _KINDS[kind], codec, offset, raw_len, stored_len, chk)
        )

    def locate_many(self, oids: list[bytes]) -> dict[bytes, Location]:
        """`locate` for many ids, one query per 500; absent ids are left out. Pack names
        come from a small cache: joining `packs` per row made this four times slower."""
        found: dict[bytes, Location] = {}
        unique = list(dict.fromkeys(oids))
        for start in range(0, len(unique), 500):
            batch = unique[start : start + 500]
            marks = ",".join("?" * len(batch))
            rows = self.db.execute(
                "SELECT id, pack, kind, codec, offset, raw_len, stored_len, chk"
                f" FROM objects WHERE id IN ({marks})",
                batch,
            ).fetchall()
            for oid, pack, kind, codec, offset, raw_len, stored_len, chk in rows:
                entry = Entry(ObjectId(oid), _KINDS[kind], codec, offset, raw_len, stored_len, chk)
                found[oid] = Location(self._pack_name(pack), entry)
        return found

    def _pack_name(self, no: int) -> str:
        name = self._packs.get(no)
        if name is None:
            (name,) = self.db.execute("SELECT name FROM packs WHERE no = ?", (no,)).fetchone()
            self._packs[no] = name
        return name

    def has(self, oid: bytes) -> bool:
        return self.db.execute("SELECT 1 FROM objects WHERE id = ?", (oid,)).fetchone() is not None

    def missing(self, oids: list[bytes]) -> set[bytes]:
        """The subset of `oids` not in the index, in one query per 500."""
        absent = set(oids)
        for start in range(0, len(oids), 500):
            batch = oids[start : start + 500]
            marks = ",".join("?" * len(batch))
            for (oid,) in self.db.execute(f"SELECT id FROM objects WHERE id IN ({marks})", batch):
                absent.discard(oid)
        return absent

    def with_prefix(self, low: bytes, high: bytes, limit: int) -> list[bytes]:
        rows = self.db.execute(
            "SELECT id FROM objects WHERE id BETWEEN ? AND ? ORDER BY id LIMIT ?",
            (low, high, limit),
        )
        return [r[0] for r in rows]

    def add_pack(self, name: str, entries: Iterable[Entry]) -> None:
        """Record a sealed pack and its entries. Existing ids keep their first location."""
        self.db.execute("INSERT OR IGNORE INTO packs (name) VALUES (?)", (name,))
        no = self.db.execute("SELECT no FROM packs WHERE name = ?", (name,)).fetchone()[0]
        self.db.executemany(
            "INSERT OR IGNORE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (e.id, no, e.offset, int(e.kind), e.codec, e.raw_len, e.stored_len, e.check)
                for e in entries
            ),
        )

    def count_objects(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM objects").fetchone()[0])

    # -- stat cache ----------------------------------------------------------------

    def stat_rows(self, paths: Iterable[str] | None = None) -> dict[str, StatRow]:
        if paths is None:
            rows = self.db.execute("SELECT * FROM statcache")
            return {r[0]: StatRow._make(r[1:]) for r in rows}
        found = {}
        for path in paths:
            r = self.db.execute("SELECT * FROM statcache WHERE path = ?", (path,)).fetchone()
            if r is not None:
                found[path] = StatRow._make(r[1:])
        return found

    def put_stat_rows(self, rows: Iterable[tuple[str, StatRow]]) -> None:
        self._bump()
        self.db.executemany(
            "INSERT OR REPLACE INTO statcache VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((p, r.size, r.mtime_ns, r.ino, r.file_id, r.hashed_ns, r.ctime_ns) for p, r in rows),
        )

    # -- runs and tracked paths ----------------------------------------------------

    def add_run(self, oid: bytes, kind: str, started: str, status: str, owner: str = "") -> int:
        self.db.execute(
            "INSERT OR IGNORE INTO runs (id, kind, started, status, owner) VALUES (?, ?, ?, ?, ?)",
            (oid, kind, started, status, owner),
        )
        return int(self.db.execute("SELECT seq FROM runs WHERE id = ?", (oid,)).fetchone()[0])

    def add_path_version(self, path: str, seq: int, oid: bytes, kind: str, size: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO path_versions VALUES (?, ?, ?, ?, ?)",
            (path, seq, oid, kind, size),
        )

    def add_input(self, seq: int, path: str, oid: bytes, producer: bytes | None) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO inputs VALUES (?, ?, ?, ?)", (seq, path, oid, producer)
        )

    def producer_of(self, oid: bytes, path: str) -> ObjectId | None:
        """The latest run or snapshot that wrote this exact content at this path. Content
        found only at another path (a copy) is not taken as produced there."""
        row = self.db.execute(
            "SELECT r.id FROM path_versions v JOIN runs r ON r.seq = v.seq"
            " WHERE v.id = ? AND v.path = ? ORDER BY r.started DESC, r.id DESC LIMIT 1",
            (oid, path),
        ).fetchone()
        return None if row is None else ObjectId(row[0])

    def is_tracked(self, path: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM tracked WHERE path = ? OR root = ? OR path GLOB ? LIMIT 1",
            (path, path, _glob_under(path)),
        ).fetchone()
        return row is not None

    def latest_version(self, path: str) -> ObjectId | None:
        row = self.db.execute(
            "SELECT id FROM path_versions WHERE path = ? ORDER BY seq DESC LIMIT 1", (path,)
        ).fetchone()
        return None if row is None else ObjectId(row[0])

    def replace_tracked(self, root: str, files: Iterable[TrackedFile]) -> None:
        """Forget what was tracked under `root` (as a root or inside it) and record `files`."""
        self._bump()
        self.db.execute(
            "DELETE FROM tracked WHERE root = ? OR root GLOB ? OR path = ? OR path GLOB ?",
            (root, _glob_under(root), root, _glob_under(root)),
        )
        self.db.executemany(
            "INSERT OR REPLACE INTO tracked VALUES (?, ?, ?, ?, ?)",
            ((f.path, f.root, f.id, f.kind, f.size) for f in files),
        )

    def _bump(self) -> None:
        """Invalidate the worktree snapshot: tracked paths or stat rows are changing."""
        self.db.execute("UPDATE meta SET value = value + 1 WHERE key = 'worktree_generation'")

    def worktree(self, build: Callable[[Iterable[tuple[Any, ...]]], Any]) -> Any:
        """What `status` needs of every tracked file, from `worktree.msgpack`.

        `build` turns the rows (path, root, id, kind, cached size, mtime_ns, ino,
        file_id, hashed_ns, ctime_ns; the cached fields None without a stat-cache row)
        into plain msgpack-able data; that data is kept in `worktree.msgpack` and loaded
        in one call next time, as git reads its index file: turning 20k SQLite rows into
        Python objects took longer than the rest of a status. The file carries the
        generation it was made at; when the tables have moved on it is rebuilt.
        """
        import msgpack

        (generation,) = self.db.execute(
            "SELECT value FROM meta WHERE key = 'worktree_generation'"
        ).fetchone()
        snapshot = self.path.with_name("worktree.msgpack")
        with contextlib.suppress(OSError, ValueError, msgpack.UnpackException):
            data = msgpack.unpackb(snapshot.read_bytes(), raw=False, use_list=True)
            if isinstance(data, list) and data[:2] == [WORKTREE_FORMAT, generation]:
                return data[2]
        rows = self.db.execute(
            "SELECT t.path, t.root, t.id, t.kind, s.size, s.mtime_ns, s.ino, s.file_id,"
            " s.hashed_ns, s.ctime_ns FROM tracked t LEFT JOIN statcache s ON s.path = t.path"
        )
        payload = build(rows)
        tmp = snapshot.with_name(f"worktree.{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            tmp.write_bytes(msgpack.packb([WORKTREE_FORMAT, generation, payload]))
            os.replace(tmp, snapshot)
        return payload

    def tracked_entry(self, path: str) -> tuple[ObjectId, str] | None:
        row = self.db.execute("SELECT id, kind FROM tracked WHERE path = ?", (path,)).fetchone()
        return None if row is None else (ObjectId(row[0]), row[1])

    # -- transactions --------------------------------------------------------------

    def begin(self, durable: bool = True) -> None:
        """Start a write transaction. `durable=False` skips the commit's fsync: for cache
        refreshes only (the stat cache), never for objects or lineage."""
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")


def _glob_under(path: str) -> str:
    escaped = "".join(f"[{c}]" if c in "*?[" else c for c in path)
    return f"{escaped}/*"
