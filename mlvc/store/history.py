"""Queries over the lineage tables of the index (`runs`, `path_versions`, `inputs`): the
only SQL the lineage commands need, so the row format stays the store's business.

Runs are ordered by (start time, id), never by insertion order: a rebuilt index must give
the same answers, and concurrent runs may be indexed in either order.

`runs.kind` holds each run's role (mlvc.objects.run_role). Only the mainline roles, `run`
and `snapshot`, name `latest`, a path's versions and who wrote a content: a reproduction
(made in a scratch workspace) or a safety snapshot (the edits a checkout replaced) never
takes over from what it reproduces or from what was checked out.
"""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation, and the first compile() of a process costs ~10 M instructions of start-up
# for every command that imports this module.

import sqlite3
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from mlvc.ids import ObjectId
from mlvc.store.db import batches
from mlvc.store.runfacts import (
    FACTS_FROM,
    NO_FACTS_FROM,
    RunFacts,
    RunFilter,
    facts_rows,
    filter_sql,
)

NEWEST_FIRST = "ORDER BY r.started DESC, r.id DESC"
MAINLINE = "r.kind IN ('run', 'snapshot')"
# Who wrote a content: the mainline first, a reproduction only when no mainline run did
# (an in-place reproduction that differs); a safety snapshot never.
_WRITERS = "r.kind != 'safety'"
_MAINLINE_FIRST = "ORDER BY r.kind = 'reproduction', r.started DESC, r.id DESC"
# Started before run `?`, in the order of NEWEST_FIRST (no row if that run is unknown).
_BEFORE = "(r.started, r.id) < (SELECT started, id FROM runs WHERE id = ?)"
_VERSIONS = (
    "SELECT v.path, v.id, v.kind, v.size, r.id FROM path_versions v JOIN runs r ON r.seq = v.seq"
)


class VersionRow(NamedTuple):
    """One recorded version of a path: `id` is None (and kind `removed`) for a deletion."""

    path: str
    id: bytes | None
    kind: str
    size: int
    run: ObjectId


def key_range_under(path: str) -> tuple[str, str]:
    """The key range (both ends excluded) of the paths strictly below `path`: those that
    start with `path/` (in byte order, "/" is followed by "0"). An index on the path
    column serves it, and no character of a path needs escaping."""
    return f"{path}/", f"{path}0"


class History:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def run_ids(
        self,
        limit: int | None = None,
        since: str | None = None,
        owner: str | None = None,
        ok_only: bool = True,
        roles: tuple[str, ...] | None = None,
        offset: int = 0,
    ) -> list[ObjectId]:
        """Runs newest first, filtered (`roles`: only runs of these roles), the first
        `offset` of them skipped (a page of a long history)."""
        where, args = filter_sql(RunFilter(since, owner, ok_only, roles))
        sql = f"SELECT r.id FROM runs r{where} {NEWEST_FIRST}"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            args += [-1 if limit is None else limit, offset]
        return [ObjectId(row[0]) for row in self.db.execute(sql, args)]

    def reproductions(self) -> list[ObjectId]:
        """Every reproduction, oldest first, through its partial index: as many rows as
        there are reproductions (`run_ids` with that role reads every run)."""
        rows = self.db.execute(
            "SELECT r.id FROM runs r WHERE r.kind = 'reproduction' ORDER BY r.started, r.id"
        )
        return [ObjectId(row[0]) for row in rows]

    def run_facts(
        self, which: RunFilter, ids: list[bytes] | None = None, limit: int | None = None
    ) -> list[RunFacts]:
        """The runs `which` selects (and, given `ids`, only those), newest first, with
        what `run_facts` holds of them: the rows of a run table, without decoding a run."""
        where, args = filter_sql(which)
        facts = FACTS_FROM if self._has_facts_table() else NO_FACTS_FROM
        sql = f"SELECT r.id, r.kind, r.started, r.status, r.owner, {facts}{where}"
        if ids is None:
            sql += f" {NEWEST_FIRST}" + ("" if limit is None else f" LIMIT {int(limit)}")
            return facts_rows(self.db.execute(sql, args))
        found: list[RunFacts] = []
        unique = list(dict.fromkeys(ids))
        for batch in batches(unique):
            chosen = f"r.id IN ({','.join('?' * len(batch))})"
            query = sql + (" AND " if where else " WHERE ") + chosen
            found += facts_rows(self.db.execute(query, [*args, *batch]))
        found.sort(key=lambda f: (f.started, f.id), reverse=True)
        return found[:limit]

    def _has_facts_table(self) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'run_facts'"
        ).fetchone()
        return row is not None

    def facts_complete(self) -> bool:
        """Whether every run has its `run_facts` row. The runs without one were indexed
        before the table existed, so they are the oldest: none below its lowest `seq`."""
        if not self._has_facts_table():
            return False
        row = self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE seq < coalesce("
            "(SELECT min(seq) FROM run_facts), (SELECT max(seq) + 1 FROM runs)))"
        ).fetchone()
        return not row[0]

    def earlier_with_command(self, run: bytes, kind: str, command: bytes) -> ObjectId | None:
        """The newest ok run of mainline role `kind` started before `run` whose command
        (canonical msgpack, as `run_facts` holds it) is `command`: read through the index
        on commands, as many rows as that command has runs (see `facts_complete`)."""
        row = self.db.execute(
            "SELECT r.id FROM run_facts f JOIN runs r ON r.seq = f.seq"
            f" WHERE f.command = ? AND r.kind = ? AND r.status = 'ok' AND {_BEFORE}"
            f" {NEWEST_FIRST} LIMIT 1",
            (command, kind, run),
        ).fetchone()
        return None if row is None else ObjectId(row[0])

    def earlier_runs(self, run: bytes, kind: str) -> Iterator[ObjectId]:
        """The ok runs of mainline role `kind` started before `run`, newest first, read
        as the caller goes."""
        rows = self.db.execute(
            f"SELECT r.id FROM runs r WHERE r.kind = ? AND r.status = 'ok' AND {_BEFORE}"
            f" {NEWEST_FIRST}",
            (kind, run),
        )
        return (ObjectId(row[0]) for row in rows)

    def earlier_writers(self, run: bytes, kind: str, paths: list[str]) -> list[ObjectId]:
        """The ok runs of mainline role `kind` started before `run` with a version of any
        of `paths`, newest first: as many as those paths have versions."""
        found: set[tuple[str, bytes]] = set()
        for batch in batches(paths):
            rows = self.db.execute(
                "SELECT r.started, r.id FROM path_versions v JOIN runs r ON r.seq = v.seq"
                f" WHERE v.path IN ({','.join('?' * len(batch))}) AND r.kind = ?"
                f" AND r.status = 'ok' AND {_BEFORE}",
                [*batch, kind, run],
            )
            found.update(rows)
        return [ObjectId(oid) for _, oid in sorted(found, reverse=True)]

    def has_run(self, oid: bytes) -> bool:
        return self.db.execute("SELECT 1 FROM runs WHERE id = ?", (oid,)).fetchone() is not None

    def nth_latest(self, n: int) -> ObjectId | None:
        row = self.db.execute(
            f"SELECT r.id FROM runs r WHERE {MAINLINE} {NEWEST_FIRST} LIMIT 1 OFFSET ?", (n,)
        ).fetchone()
        return None if row is None else ObjectId(row[0])

    def is_recorded(self, path: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM path_versions WHERE path = ? LIMIT 1", (path,)
        ).fetchone()
        return row is not None

    def versions(self, path: str, every_role: bool = False) -> list[VersionRow]:
        """Every mainline version of `path` (`every_role`: every version), newest first."""
        role = "" if every_role else f" AND {MAINLINE}"
        rows = self.db.execute(f"{_VERSIONS} WHERE v.path = ?{role} {NEWEST_FIRST}", (path,))
        return [VersionRow(p, i, k, s, ObjectId(r)) for p, i, k, s, r in rows]

    def versions_under(self, path: str) -> list[VersionRow]:
        """Every version of every path below the directory `path`, newest first."""
        rows = self.db.execute(
            f"{_VERSIONS} WHERE v.path > ? AND v.path < ? AND {MAINLINE} {NEWEST_FIRST}",
            key_range_under(path),
        )
        return [VersionRow(p, i, k, s, ObjectId(r)) for p, i, k, s, r in rows]

    def latest_writer(self, path: str) -> ObjectId | None:
        """The newest run that wrote `path` (a deletion does not count)."""
        row = self.db.execute(
            "SELECT r.id FROM path_versions v JOIN runs r ON r.seq = v.seq"
            f" WHERE v.path = ? AND v.kind != 'removed' AND {MAINLINE} {NEWEST_FIRST} LIMIT 1",
            (path,),
        ).fetchone()
        return None if row is None else ObjectId(row[0])

    def writer_of(self, oid: bytes, path: str, until: bytes | None = None) -> ObjectId | None:
        """The newest run that wrote this exact content at this path (started no later
        than run `until`). Content found only at another path (a copy) does not count;
        a reproduction counts only when no mainline run wrote it, a safety snapshot never."""
        bound = ""
        args: tuple[bytes | str, ...] = (oid, path)
        if until is not None:
            bound = " AND (r.started, r.id) <= (SELECT started, id FROM runs WHERE id = ?)"
            args = (*args, until)
        row = self.db.execute(
            "SELECT r.id FROM path_versions v JOIN runs r ON r.seq = v.seq"
            f" WHERE v.id = ? AND v.path = ? AND {_WRITERS}{bound} {_MAINLINE_FIRST} LIMIT 1",
            args,
        ).fetchone()
        return None if row is None else ObjectId(row[0])

    def writers_of(self, found: Iterable[tuple[bytes, str]]) -> dict[tuple[bytes, str], ObjectId]:
        """`writer_of` for many (content, path) pairs: one query per 500 contents (a run
        that read 2,000 files asked 2,000 times). Looked up by content, as `writer_of`
        is: by path, a model rewritten by 100,000 runs would bring every one of its
        versions. Pairs nobody wrote are left out."""
        wanted = set(found)
        writers: dict[tuple[bytes, str], ObjectId] = {}
        order = _MAINLINE_FIRST.removeprefix("ORDER BY ")
        for batch in batches(sorted({oid for oid, _ in wanted})):
            rows = self.db.execute(
                "SELECT v.id, v.path, r.id FROM path_versions v JOIN runs r ON r.seq = v.seq"
                f" WHERE v.id IN ({','.join('?' * len(batch))}) AND {_WRITERS}"
                f" ORDER BY v.path, v.id, {order}",
                batch,
            )
            for oid, path, run in rows:  # the first of each pair is its writer_of
                if (oid, path) in wanted:
                    writers.setdefault((oid, path), ObjectId(run))
        return writers

    def newest_version_of(self, path: str) -> tuple[ObjectId, str, str] | None:
        """(run, run kind, version kind) of the newest version of `path`."""
        row = self.db.execute(
            "SELECT r.id, r.kind, v.kind FROM path_versions v JOIN runs r ON r.seq = v.seq"
            f" WHERE v.path = ? AND {MAINLINE} {NEWEST_FIRST} LIMIT 1",
            (path,),
        ).fetchone()
        return None if row is None else (ObjectId(row[0]), row[1], row[2])

    def newest_writer_of_content(self, oid: bytes) -> VersionRow | None:
        """The newest version of any path holding this content."""
        row = self.db.execute(
            f"{_VERSIONS} WHERE v.id = ? AND {_WRITERS} {_MAINLINE_FIRST} LIMIT 1", (oid,)
        ).fetchone()
        if row is None:
            return None
        path, version, kind, size, run = row
        return VersionRow(path, version, kind, size, ObjectId(run))

    def readers(self, path: str, oid: bytes) -> list[ObjectId]:
        """Mainline runs that read this content at this path, newest first (a
        reproduction reads what its original read: it is no consumer of its own)."""
        rows = self.db.execute(
            "SELECT r.id FROM inputs i JOIN runs r ON r.seq = i.seq"
            f" WHERE i.path = ? AND i.id = ? AND {MAINLINE} {NEWEST_FIRST}",
            (path, oid),
        )
        return [ObjectId(row[0]) for row in rows]

    def reads_under(self, path: str) -> list[tuple[ObjectId, str, bytes]]:
        """(run, path, content id) of every read below the directory `path`, newest first."""
        rows = self.db.execute(
            "SELECT r.id, i.path, i.id FROM inputs i JOIN runs r ON r.seq = i.seq"
            f" WHERE i.path > ? AND i.path < ? AND {MAINLINE} {NEWEST_FIRST}",
            key_range_under(path),
        )
        return [(ObjectId(r), p, i) for r, p, i in rows]

    def versions_oldest_first(self, path: str) -> list[VersionRow]:
        rows = self.db.execute(
            f"{_VERSIONS} WHERE v.path = ? AND {MAINLINE} ORDER BY r.started, r.id", (path,)
        )
        return [VersionRow(p, i, k, s, ObjectId(r)) for p, i, k, s, r in rows]

    def recorded_paths(self) -> list[str]:
        """Every path some run wrote or read (for "did you mean" on an unknown name)."""
        rows = self.db.execute("SELECT path FROM path_versions UNION SELECT path FROM inputs")
        return [row[0] for row in rows]

    def reads_oldest_first(self, path: str) -> list[tuple[ObjectId, bytes]]:
        """(run, content id) of every run that read `path`, oldest first."""
        rows = self.db.execute(
            "SELECT r.id, i.id FROM inputs i JOIN runs r ON r.seq = i.seq"
            " WHERE i.path = ? ORDER BY r.started, r.id",
            (path,),
        )
        return [(ObjectId(r), i) for r, i in rows]

    def inputs_of(self, runs: list[bytes]) -> dict[bytes, list[tuple[str, bytes, bytes | None]]]:
        """(path, content id, producer run) of every input of each of `runs`, by path."""
        found: dict[bytes, list[tuple[str, bytes, bytes | None]]] = {run: [] for run in runs}
        for batch in batches(runs):
            rows = self.db.execute(
                "SELECT r.id, i.path, i.id, i.producer FROM inputs i JOIN runs r ON r.seq = i.seq"
                f" WHERE r.id IN ({','.join('?' * len(batch))}) ORDER BY i.path",
                batch,
            )
            for run, path, oid, producer in rows:
                found[run].append((path, oid, producer))
        return found

    def newest_versions(self, paths: list[str], written: bool = False) -> dict[str, VersionRow]:
        """The newest mainline version of each of `paths` that has one (`written`: the
        newest that is no deletion), in one query per 500 paths."""
        where = " AND v.kind != 'removed'" if written else ""
        found: dict[str, VersionRow] = {}
        for batch in batches(paths):
            rows = self.db.execute(
                "SELECT path, id, kind, size, run FROM (SELECT v.path, v.id, v.kind, v.size,"
                " r.id AS run, row_number() OVER (PARTITION BY v.path"
                " ORDER BY r.started DESC, r.id DESC) AS n"
                " FROM path_versions v JOIN runs r ON r.seq = v.seq"
                f" WHERE v.path IN ({','.join('?' * len(batch))}) AND {MAINLINE}{where})"
                " WHERE n = 1",
                batch,
            )
            for path, oid, kind, size, run in rows:
                found[path] = VersionRow(path, oid, kind, size, ObjectId(run))
        return found

    def written_by(self, run: bytes, path: str) -> dict[str, tuple[bytes, str]]:
        """What `run` wrote at `path` and below it: path -> (content id, kind). A tree
        output's files have versions of their own (mlvc.recorder.IndexRows.files)."""
        rows = self.db.execute(
            "SELECT v.path, v.id, v.kind FROM path_versions v JOIN runs r ON r.seq = v.seq"
            " WHERE r.id = ? AND (v.path = ? OR (v.path > ? AND v.path < ?))",
            (run, path, *key_range_under(path)),
        )
        return {p: (i, kind) for p, i, kind in rows}

    def command_runs(self) -> list[tuple[ObjectId, str]]:
        """(id, start time) of every successful mainline command run (role `run`), newest
        first: the runs the pipeline's steps are inferred from."""
        rows = self.db.execute(
            f"SELECT r.id, r.started FROM runs r WHERE r.kind = 'run' AND r.status = 'ok'"
            f" {NEWEST_FIRST}"
        )
        return [(ObjectId(oid), started) for oid, started in rows]
