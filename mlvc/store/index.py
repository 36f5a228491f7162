"""The SQLite index: object locations, the stat cache and tracked paths. A rebuildable cache."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from mlvc.ids import Kind, ObjectId
from mlvc.store import runlog
from mlvc.store.db import LINEAGE_INDEXES, RUN_FACTS, batches, connect, in_key_order
from mlvc.store.entry import Entry
from mlvc.store.history import MAINLINE, History, key_range_under
from mlvc.store.rowdiff import InPathOrder, by_path, changes, in_path_order
from mlvc.store.statrows import StatRow, StatRows
from mlvc.store.worktree import worktree

if TYPE_CHECKING:
    from mlvc.objects import Run

_KINDS = {int(k): k for k in Kind}  # a dict lookup: Kind(n) costs a microsecond per row
REMOVED = b""  # the id of a path version that records a deletion
FileRow = tuple[str, bytes, str, int]  # (path, id, kind, size) of a file inside a tree


def owner_name(owner: Mapping[str, object]) -> str:
    """The `owner` column of a run: its OS user name."""
    return str(owner.get("user") or "")


class Location(NamedTuple):
    """A NamedTuple: a checkout looks up 65,536 at a time (a frozen dataclass took twice
    as long to build)."""

    pack: str
    entry: Entry


class TrackedFile(NamedTuple):
    path: str
    root: str
    id: ObjectId
    kind: str
    size: int


def _without(rows: Iterable[FileRow], path: str) -> Iterator[FileRow]:
    """The rows of the files inside output `path`, not its own (made from the run)."""
    return (row for row in rows if row[0] != path)


class Index:
    """One connection to `.mlvc/index.db` in WAL mode; many processes may share the file."""

    def __init__(
        self, path: Path, db: sqlite3.Connection | None = None, run_log: Path | None = None
    ) -> None:
        """`db`: an open connection to `path` (from `mlvc.store.db.connect`) to adopt.
        `run_log`: the store's `runs.log`, appended to as runs commit (store/runlog.py);
        None for an index being rebuilt from it."""
        self.path = path
        self.db = db if db is not None else connect(path)
        self.history = History(self.db)
        self.run_log = run_log
        self._packs: dict[int, str] = {}
        self._new_runs: list[bytes] = []
        self._forgotten: list[bytes] = []
        self._has_facts = False

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
        for batch in batches(in_key_order(oids)):
            marks = ",".join("?" * len(batch))
            rows = self.db.execute(
                "SELECT id, pack, kind, codec, offset, raw_len, stored_len, chk"
                f" FROM objects WHERE id IN ({marks})",
                batch,
            ).fetchall()
            names, name = self._packs, self._pack_name
            make = tuple.__new__  # a NamedTuple without its Python-level __new__: 2x faster
            for oid, pack, kind, codec, offset, raw_len, stored_len, chk in rows:
                entry = make(Entry, (oid, _KINDS[kind], codec, offset, raw_len, stored_len, chk))
                found[oid] = make(Location, (names.get(pack) or name(pack), entry))
        return found

    def kinds(self, oids: list[bytes]) -> dict[bytes, Kind]:
        """The kind of each id the index holds, one query per 500 (lighter than
        `locate_many` when only the kind is wanted: a checkout asks for a million)."""
        found: dict[bytes, Kind] = {}
        for batch in batches(in_key_order(oids)):
            marks = ",".join("?" * len(batch))
            rows = self.db.execute(f"SELECT id, kind FROM objects WHERE id IN ({marks})", batch)
            found.update((oid, _KINDS[kind]) for oid, kind in rows)
        return found

    def not_all_chunks(self, oids: list[bytes]) -> list[bytes]:
        """The ids of `oids` not shown to be chunks held here: one query per 500 asks only
        how many are here and their largest kind (CHUNK is the smallest), and where that
        does not add up, all 500 are returned for a closer look. A checkout of a million
        small files asks this of every file it writes: 1.6 s against 2.5 s for `kinds`,
        which makes a row per id."""
        chunk = int(Kind.CHUNK)
        doubtful: list[bytes] = []
        for batch in batches(in_key_order(oids)):
            marks = ",".join("?" * len(batch))
            here, top = self.db.execute(
                f"SELECT count(*), max(kind) FROM objects WHERE id IN ({marks})", batch
            ).fetchone()
            if here != len(set(batch)) or top != chunk:  # an id twice is one row
                doubtful.extend(batch)
        return doubtful

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
        for batch in batches(in_key_order(oids)):
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
        self.db.executemany(  # in key order: B-tree inserts then touch each page once
            "INSERT OR IGNORE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            sorted(
                (e.id, no, e.offset, int(e.kind), e.codec, e.raw_len, e.stored_len, e.check)
                for e in entries
            ),
        )

    def entries_by_pack(self) -> dict[str, list[Entry]]:
        """Every indexed object where the index finds it, grouped by pack, in pack order."""
        found: dict[str, list[Entry]] = {}
        rows = self.db.execute(
            "SELECT id, pack, kind, codec, offset, raw_len, stored_len, chk FROM objects"
            " ORDER BY pack, offset"
        )
        for oid, pack, kind, codec, offset, raw_len, stored_len, chk in rows:
            entry = Entry(ObjectId(oid), _KINDS[kind], codec, offset, raw_len, stored_len, chk)
            found.setdefault(self._pack_name(pack), []).append(entry)
        return found

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
        """Insert or replace stat-cache rows; of a path given twice, the later row. In key
        order (B-tree inserts then touch each page once): sorted here unless they come
        `InPathOrder` (`StatRows` sort themselves, in place); each row is made as it is
        inserted."""
        if isinstance(rows, StatRows):
            rows = rows.in_path_order()
        self.put_stat_values(InPathOrder((p, *r) for p, r in in_path_order(rows)))

    def put_stat_values(self, rows: InPathOrder) -> None:
        """`put_stat_rows` for rows already flat, `(path, size, mtime_ns, ino, file_id,
        hashed_ns, ctime_ns)`, in path order (a checkout's: 20,000 rows 55 -> 40 ms)."""
        self._bump()
        self.db.executemany("INSERT OR REPLACE INTO statcache VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    # -- runs and tracked paths ----------------------------------------------------

    def add_run(self, oid: bytes, kind: str, started: str, status: str, owner: str = "") -> int:
        added = self.db.execute(
            "INSERT OR IGNORE INTO runs (id, kind, started, status, owner) VALUES (?, ?, ?, ?, ?)",
            (oid, kind, started, status, owner),
        )
        if added.rowcount == 1:
            self._new_runs.append(oid)
        return int(self.db.execute("SELECT seq FROM runs WHERE id = ?", (oid,)).fetchone()[0])

    def add_path_versions(self, seq: int, rows: Iterable[tuple[str, bytes, str, int]]) -> None:
        """Versions (path, id, kind, size) written by run `seq`; of a path given twice,
        the last (the sort by path is stable, and the later row replaces the earlier).
        Inserted in key order, as the other bulk inserts are: sorted here unless they
        come `InPathOrder`."""
        self.db.executemany(
            "INSERT OR REPLACE INTO path_versions VALUES (?, ?, ?, ?, ?)",
            ((path, seq, oid, kind, size) for path, oid, kind, size in in_path_order(rows)),
        )

    def add_inputs(self, seq: int, rows: Iterable[tuple[str, bytes, bytes | None]]) -> None:
        """Run `seq`'s input edges: (path, content id, producing run or None)."""
        self.db.executemany(
            "INSERT OR REPLACE INTO inputs VALUES (?, ?, ?, ?)",
            [(seq, path, oid, producer) for path, oid, producer in rows],
        )

    def add_run_rows(
        self, run_id: bytes, run: Run, inside: Mapping[str, Iterable[FileRow]]
    ) -> None:
        """A run's lineage rows: its own, a path version per output (and per file inside
        an output tree, from `inside`), one per removed path, and its input edges. The
        one place these rows are made, by `record` and by `index rebuild` alike."""
        # `runs.kind` holds the run's role (run, snapshot, reproduction, safety): the
        # history queries keep reproductions and safety snapshots off the mainline.
        from mlvc.objects import run_role

        role = run_role(run)
        seq = self.add_run(run_id, role, run.started, run.status, owner_name(run.owner))
        # Merged in path order, never held at once: an output's files (a million, from
        # `add`) come as the index takes them. Of a path given twice the last wins, as in
        # a stable sort of outputs, then the files inside each, then the removed paths.
        own = [(path, out.id, out.kind, out.size) for path, out in run.outputs.items()]
        versions = heapq.merge(
            in_path_order(own),
            *(_without(in_path_order(inside.get(path, ())), path) for path in run.outputs),
            in_path_order([(path, REMOVED, "removed", 0) for path in run.removed]),
            key=by_path,
        )
        self.add_path_versions(seq, InPathOrder(versions))
        self.add_inputs(seq, [(p, inp.id, inp.producer_run) for p, inp in run.inputs.items()])
        self._add_facts(seq, run)

    def _add_facts(self, seq: int, run: Run) -> None:
        """What a run table shows of the run (store/db.py, RUN_FACTS). The values were
        encoded once already, in the run object, so they encode here too."""
        from mlvc import codec

        self._ensure_facts()
        self.db.execute(
            "INSERT OR REPLACE INTO run_facts VALUES (?, ?, ?, ?, ?, ?)",
            (
                seq,
                run.ended,
                run.exit_code,
                codec.encode(list(run.command)),
                codec.encode(run.params),
                codec.encode(run.metrics),
            ),
        )

    def _ensure_facts(self) -> None:
        """An index made before `run_facts` (or the lineage indexes) existed gets it in
        this write transaction: its schema upgrade, once."""
        if not self._has_facts:
            for statement in (RUN_FACTS, *LINEAGE_INDEXES):
                self.db.execute(statement)
            self._has_facts = True

    def forget_runs(self, oids: Iterable[bytes]) -> None:
        """Take runs out of history (`mlvc forget`): their rows go, and the commit
        records it in the run log so that a rebuild does not bring them back."""
        for oid in oids:
            row = self.db.execute("SELECT seq FROM runs WHERE id = ?", (oid,)).fetchone()
            if row is None:
                continue
            self._ensure_facts()
            for table in ("path_versions", "inputs", "run_facts", "runs"):
                self.db.execute(f"DELETE FROM {table} WHERE seq = ?", (row[0],))
            self._forgotten.append(oid)

    def replace_pack(self, old: str, new: str | None, entries: Iterable[Entry]) -> None:
        """`gc`: the objects of pack `old` now live in `new` (its `entries`), or nowhere."""
        row = self.db.execute("SELECT no FROM packs WHERE name = ?", (old,)).fetchone()
        if row is not None:
            self.db.execute("DELETE FROM objects WHERE pack = ?", (row[0],))
            self.db.execute("DELETE FROM packs WHERE no = ?", (row[0],))
            self._packs.pop(row[0], None)
        if new is not None:
            self.add_pack(new, entries)

    def is_tracked(self, path: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM tracked WHERE path = ? OR root = ? OR (path > ? AND path < ?) LIMIT 1",
            (path, path, *key_range_under(path)),
        ).fetchone()
        return row is not None

    def latest_version(self, path: str) -> ObjectId | None:
        """The content of the newest mainline version of `path` (see store/history.py)."""
        row = self.db.execute(
            "SELECT v.id FROM path_versions v JOIN runs r ON r.seq = v.seq"
            f" WHERE v.path = ? AND {MAINLINE} ORDER BY v.seq DESC LIMIT 1",
            (path,),
        ).fetchone()
        return None if row is None else ObjectId(row[0])

    def replace_tracked(self, root: str, files: Iterable[TrackedFile]) -> None:
        """Forget what was tracked at or below `root` and record `files`. Rows already as
        given stay as they are: checking out or adding 20,000 unchanged files again
        rewrites none of them. The rows there are read in key order beside the sorted
        `files` (a merge), never held: a million of them would take 400 MiB as a dict.
        (A file's path is always at or below its root, so the paths' key range finds
        every row of a root inside `root` too.)"""
        columns = "SELECT path, root, id, kind, size FROM tracked"
        there = itertools.chain(
            self.db.execute(f"{columns} WHERE path = ?", (root,)),
            self.db.execute(
                f"{columns} WHERE path > ? AND path < ? ORDER BY path", key_range_under(root)
            ),
        )
        gone, changed = changes(there, files)
        if gone or changed:
            self._bump()
        self.db.executemany("DELETE FROM tracked WHERE path = ?", gone)
        self.db.executemany("INSERT OR REPLACE INTO tracked VALUES (?, ?, ?, ?, ?)", changed)

    def _bump(self) -> None:
        """Invalidate the worktree cache: tracked paths or stat rows are changing."""
        self.db.execute("UPDATE meta SET value = value + 1 WHERE key = 'worktree_generation'")

    def worktree(self) -> Any:
        return worktree(self.db, self.path)

    def tracked_ids(self) -> list[ObjectId]:
        """The content of every tracked path: the workspace state gc keeps."""
        return [ObjectId(row[0]) for row in self.db.execute("SELECT DISTINCT id FROM tracked")]

    def tracked_files(self, path: str) -> dict[str, bytes]:
        """The tracked files at or below `path`, with their tracked content ids."""
        rows = self.db.execute(
            "SELECT path, id FROM tracked WHERE path = ? OR (path > ? AND path < ?)",
            (path, *key_range_under(path)),
        )
        return {row[0]: row[1] for row in rows}

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
        """Commit; runs added in the transaction are first appended to the run log (the
        commit point: store/runlog.py)."""
        log = self.run_log
        if log is not None and (self._new_runs or self._forgotten):
            if not log.exists():  # an older store: the log starts with every run it has
                every = self.db.execute("SELECT id FROM runs ORDER BY seq")
                runlog.append(log, [row[0] for row in every])
            else:
                if self._new_runs:
                    runlog.append(log, self._new_runs)
                if self._forgotten:
                    runlog.append(log, self._forgotten, forget=True)
        self._new_runs.clear()
        self._forgotten.clear()
        self.db.execute("COMMIT")

    @contextlib.contextmanager
    def transaction(self, durable: bool = True) -> Iterator[None]:
        """`begin` ... `commit`, rolled back if the block raises."""
        self.begin(durable)
        try:
            yield
            self.commit()
        except BaseException:
            self.rollback()
            raise

    def rollback(self) -> None:
        self._new_runs.clear()
        self._forgotten.clear()
        self._has_facts = False  # a table made in the transaction is gone with it
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
