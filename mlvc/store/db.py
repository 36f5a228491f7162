"""The index database's connection and schema (the worktree cache `status` reads from it
is mlvc.store.worktree).

Kept apart from `mlvc.store.index` so that a clean `status` imports only this, sqlite3
and msgpack (start-up time is most of a status).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3

from mlvc.errors import ChunkingChangedError, DiskFullError, MlvcError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from pathlib import Path
    from typing import Any, Self, TypeVar

    T = TypeVar("T")
    K = TypeVar("K", bytes, str)


def batches(items: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size`: the ids or paths one query may bind (SQLite
    limits a statement's parameters)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def in_key_order(items: Iterable[K]) -> list[K]:
    """`items` sorted, to be looked up by `batches`: a query per 500 random ids reads leaf
    pages all over the B-tree, while sorted, neighbouring ids share them. A million ids
    against a million objects, 500 a query: 3.9 s in random order, 1.3 s sorted (plus
    0.6-1.2 s to sort them). Repeats stay: a query answers each id once, and taking them
    out first (a set) made the sort twice as slow."""
    return sorted(items)


SCHEMA_VERSION = 3
# What run tables (`mlvc runs`) show of each run, so that they need not decode the run
# objects. Added without a schema change: an index made before it gets the table with
# the next run it records (`Index.add_run_rows`), and its older runs have no row here
# until `mlvc index rebuild` (readers then load those run objects).
RUN_FACTS = """CREATE TABLE IF NOT EXISTS run_facts (
    seq INTEGER PRIMARY KEY,
    ended TEXT NOT NULL,
    exit_code INTEGER,
    command BLOB NOT NULL,
    params BLOB NOT NULL,
    metrics BLOB NOT NULL
);"""
# Indexes for the lineage queries that would otherwise read every run (mlvc/store/
# history.py): the runs that read a path, the earlier runs of one command, and the
# reproductions (a partial index: only a query that names that role uses it). Added
# without a schema change, as RUN_FACTS: `index rebuild` makes them, and an older index
# gets them with the next run it records (`Index.add_run_rows`); until then those
# queries are as slow as before, never wrong. One statement each (`execute`).
LINEAGE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS inputs_path ON inputs (path)",
    "CREATE INDEX IF NOT EXISTS run_facts_command ON run_facts (command)",
    "CREATE INDEX IF NOT EXISTS runs_reproductions ON runs (started, id)"
    " WHERE kind = 'reproduction'",
)
SCHEMA = f"""
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
{RUN_FACTS}
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
{";".join(LINEAGE_INDEXES)};
"""


REBUILD_HINT = "run mlvc index rebuild (or mlvc fsck --repair)"
# SQLite's codes for a file that is not (or no longer) a well-formed database.
_DAMAGE = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
CHUNKING_KEYS = ("min_size", "avg_size", "max_size", "seed")


class CorruptIndexError(MlvcError, sqlite3.DatabaseError):
    """`.mlvc/index.db` is damaged, missing or empty: `mlvc index rebuild` makes it again
    from the packs. Also a sqlite3.DatabaseError, so that code handling SQLite's own
    damage errors (a checker listing problems) handles it alike."""


def connect(
    path: Path, *, create: bool = False, chunking: Mapping[str, int] | None = None
) -> sqlite3.Connection:
    """A connection in WAL mode (many processes may share the file). `create`: make the
    file and its schema (init, rebuild); otherwise a missing or empty index is damage,
    never silently replaced by an empty one. `chunking`: the config's chunking
    parameters, checked against (or, in a store made before they were kept, recorded in)
    the `meta` table."""
    if not create and not path.is_file():
        if path.exists() or path.is_symlink():
            raise CorruptIndexError(
                f"index {path} is not a file", hint=f"move it aside, then {REBUILD_HINT}"
            )
        raise CorruptIndexError(f"index {path} is missing", hint=REBUILD_HINT)
    try:
        # check_same_thread=False: `mlvc run` records the code on a helper thread while
        # the main thread only waits for the command; the connection is never shared by
        # two threads at once.
        db: Connection = sqlite3.connect(
            path, timeout=60, isolation_level=None, check_same_thread=False, factory=Connection
        )
        db.index_path = path
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        # Up to 32 MiB of pages (SQLite's default is 2 MiB), taken only as pages are used:
        # an add of a million files inserts a million random ids into path_versions_id,
        # and with the default each insert rereads evicted pages (8.9 s; 5.1 s with this).
        db.execute("PRAGMA cache_size=-32768")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and create:
            db.executescript(SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            version = SCHEMA_VERSION
    except _ERRORS as exc:
        if isinstance(exc, sqlite3.DatabaseError) and _no_space(exc, path):
            raise DiskFullError(
                f"no space left on the device holding {path}: the index cannot be opened",
                hint="free some space and run the command again; the store is unchanged",
            ) from None
        if isinstance(named := _named(exc, path), CorruptIndexError):
            raise named from None
        raise MlvcError(
            f"index {path} cannot be opened: {exc}",
            hint="move .mlvc/index.db aside and report this; the packs still hold every object",
        ) from None
    _check_schema(path, version)
    if chunking is not None:
        check_chunking(db, chunking)
    return db


def _check_schema(path: Path, version: int) -> None:
    if version == 0:  # `init` sets it before the config exists: only damage clears it
        raise CorruptIndexError(f"index {path} is empty", hint=REBUILD_HINT)
    if version != SCHEMA_VERSION:
        raise MlvcError(
            f"index {path} has schema {version}, this mlvc knows {SCHEMA_VERSION}",
            hint="upgrade mlvc"
            if version > SCHEMA_VERSION
            else "this repository was made by an older mlvc; it has no upgrade path yet",
        )


def check_chunking(db: Connection, chunking: Mapping[str, int]) -> None:
    """The chunking parameters are fixed when a store is made: packs written with others
    would share no chunks with the old ones. They are kept in `meta` (`chunking.*`);
    a store made before that has none, and adopts the config's."""
    keys = [f"chunking.{key}" for key in CHUNKING_KEYS]
    marks = ",".join("?" * len(keys))
    rows = db.execute(f"SELECT key, value FROM meta WHERE key IN ({marks})", keys).fetchall()
    kept = {str(key).removeprefix("chunking."): value for key, value in rows}
    if not kept:
        with contextlib.suppress(sqlite3.OperationalError):  # a read-only store: next time
            db.executemany(
                "INSERT OR IGNORE INTO meta VALUES (?, ?)",
                [(f"chunking.{key}", int(chunking[key])) for key in CHUNKING_KEYS],
            )
        return
    if sorted(kept) != sorted(CHUNKING_KEYS) or not all(type(v) is int for v in kept.values()):
        raise CorruptIndexError(
            f"index {db.index_path} is damaged (its chunking parameters are incomplete)",
            hint=REBUILD_HINT,
        )
    changed = [key for key in CHUNKING_KEYS if kept[key] != chunking[key]]
    if changed:
        was = ", ".join(f"{key} = {kept[key]}" for key in changed)
        now = ", ".join(f"{key} = {chunking[key]}" for key in changed)
        raise ChunkingChangedError(
            f"the [chunking] parameters in config.toml ({now}) differ from those this"
            f" store was written with ({was})",
            hint=f"chunking parameters never change for a repository: restore {was} in"
            " .mlvc/config.toml (if it was not edited, the index is damaged: run mlvc index"
            " rebuild)",
        )


# What SQLite (and the sqlite3 module) raise for a damaged file. A UnicodeDecodeError:
# mlvc writes only valid UTF-8, so text (or an error message quoting it) that is not
# was changed on disk.
_ERRORS = (sqlite3.DatabaseError, UnicodeDecodeError)


def _named(exc: Exception, path: Path) -> Exception:
    """A CorruptIndexError naming the index when `exc` says the file is damaged, else
    `exc` itself."""
    code = getattr(exc, "sqlite_errorcode", None)
    # The sqlite3 module reports undecodable text with no SQLite error code.
    garbled = isinstance(exc, UnicodeDecodeError) or (
        code is None and str(exc).startswith("Could not decode to UTF-8")
    )
    if garbled or ((code or 0) & 0xFF) in _DAMAGE:
        return CorruptIndexError(f"index {path} is damaged ({exc})", hint=REBUILD_HINT)
    return exc


class Cursor(sqlite3.Cursor):
    """A cursor whose damage errors name the index and say how to repair it. SQLite
    finds a damaged page only when a query reaches it, which may be at any row, so
    every call that steps a query is covered."""

    connection: Connection

    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        try:
            return super().execute(sql, parameters)
        except _ERRORS as exc:
            raise _named(exc, self.connection.index_path) from None

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> Self:
        try:
            return super().executemany(sql, seq_of_parameters)
        except _ERRORS as exc:
            raise _named(exc, self.connection.index_path) from None

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except _ERRORS as exc:
            raise _named(exc, self.connection.index_path) from None

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except _ERRORS as exc:
            raise _named(exc, self.connection.index_path) from None

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except _ERRORS as exc:
            raise _named(exc, self.connection.index_path) from None

    # A generator over the C `fetchone`, not `__next__` above: as fast as the plain
    # cursor (a Python call per row made status's table scans a third slower).
    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        try:
            yield from iter(super().fetchone, None)
        except _ERRORS as exc:
            raise _named(exc, self.connection.index_path) from None


class Connection(sqlite3.Connection):
    """The index's connection: its queries go through `Cursor`."""

    index_path: Path

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        return self.cursor(Cursor).execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor:
        return self.cursor(Cursor).executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> Cursor:
        cursor = self.cursor(Cursor)
        try:
            cursor.executescript(sql_script)
        except _ERRORS as exc:
            raise _named(exc, self.index_path) from None
        return cursor


def _no_space(exc: sqlite3.DatabaseError, path: Path) -> bool:
    """SQLite reports a full disk as SQLITE_FULL, or, when it cannot even make the WAL
    index, as a plain I/O error: then the free space says what happened."""
    if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL:
        return True
    try:
        fs = os.statvfs(path.parent)
    except OSError:
        return False
    return fs.f_bavail * fs.f_frsize < 1 << 16


def has_command_runs(db: sqlite3.Connection) -> bool:
    """Whether any command run is recorded: `status` looks for stale steps only then."""
    return db.execute("SELECT 1 FROM runs WHERE kind = 'run' LIMIT 1").fetchone() is not None


def recorded_chunking(path: Path) -> dict[str, int]:
    """The chunking parameters the index database at `path` recorded, read-only and
    without its schema check (`fsck --repair` rewriting a lost config.toml); {} if the
    database cannot say."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT key, value FROM meta WHERE key LIKE 'chunking.%'")
            return {str(k).removeprefix("chunking."): int(v) for k, v in rows}
        finally:
            db.close()
    except (sqlite3.Error, ValueError, TypeError):
        return {}
