"""The run table's rows (`mlvc runs`, `log --table`): which runs a listing takes
(`RunFilter`) and each run's index row with its `run_facts` row (`RunFacts`), read by
`History` (store/history.py)."""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation, and the first compile() of a process costs start-up (see history.py).

from collections.abc import Iterable
from typing import Any, NamedTuple

from mlvc.ids import ObjectId


class RunFilter(NamedTuple):
    """Which runs a listing takes: started at or after `since`, by `owner`, only ok
    ones (`ok_only`), only of these `roles` (None: every role)."""

    since: str | None = None
    owner: str | None = None
    ok_only: bool = True
    roles: tuple[str, ...] | None = None


def filter_sql(which: RunFilter) -> tuple[str, list[Any]]:
    """` WHERE ...` (or "") over `runs r`, and its arguments."""
    where: list[str] = []
    args: list[Any] = []
    if which.roles is not None:
        where.append(f"r.kind IN ({','.join('?' * len(which.roles))})")
        args += which.roles
    if which.ok_only:
        where.append("r.status = 'ok'")
    if which.since:
        where.append("r.started >= ?")
        args.append(which.since)
    if which.owner:
        where.append("r.owner = ?")
        args.append(which.owner)
    return (" WHERE " + " AND ".join(where) if where else ""), args


class RunFacts(NamedTuple):
    """A run's index row and its `run_facts` row (see store/db.py). `command`, `params`
    and `metrics` are None (and `ended` "") for a run indexed before that table existed:
    read the run object then."""

    id: ObjectId
    role: str
    started: str
    status: str
    owner: str
    ended: str
    exit_code: int | None
    command: list[str] | None = None
    params: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None


FACTS_FROM = (
    "f.ended, f.exit_code, f.command, f.params, f.metrics"
    " FROM runs r LEFT JOIN run_facts f ON f.seq = r.seq"
)
NO_FACTS_FROM = "NULL, NULL, NULL, NULL, NULL FROM runs r"


def facts_rows(rows: Iterable[tuple[Any, ...]]) -> list[RunFacts]:
    """The rows as RunFacts, their msgpack fields decoded (a table reads thousands: one
    import and no call per field); damage is the index's, and a rebuild repairs it."""
    import msgpack

    unpack = msgpack.unpackb
    found = []
    try:
        for oid, role, started, status, owner, ended, code, command, params, metrics in rows:
            if command is None:
                found.append(RunFacts(ObjectId(oid), role, started, status, owner, "", None))
                continue
            facts = RunFacts(
                ObjectId(oid),
                role,
                started,
                status,
                owner,
                ended,
                code,
                unpack(command),
                unpack(params),
                unpack(metrics),
            )
            found.append(facts)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        from mlvc.store.db import REBUILD_HINT, CorruptIndexError

        raise CorruptIndexError(
            f"index row of run facts is damaged ({exc})", hint=REBUILD_HINT
        ) from None
    return found
