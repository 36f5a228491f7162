"""`mlvc pull`: fetch, then the data a checkout needs, by ranged reads of only the
needed objects; and the same for `checkout` when a run's data is still on a remote.

Targets are runs (id, tag, `latest`...), `PATH@RUN`, or a path (its newest version).
With none, every run the remote lists: the store becomes a full copy. A run's closure
here is its own inputs, outputs, code patch, logs and environment, not its ancestors'
(their runs are fetched; their data is pulled when asked for).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from mlvc.errors import ObjectNotFoundError
from mlvc.heap import paused_collector
from mlvc.ids import Kind, ObjectId, short
from mlvc.lineage.resolve import UnknownRefError, resolve_path_at, resolve_run
from mlvc.repo import Repo
from mlvc.store import purged
from mlvc.store.reach import closure

T = TypeVar("T")

if TYPE_CHECKING:  # the remote modules: imported only once a remote is to be used (a
    # checkout asks `ensure_local` whatever its data, and mostly it is all here)
    from mlvc.porcelain.fetch import Meter, Session
    from mlvc.porcelain.remotetags import TagUpdate
    from mlvc.store.download import DownloadStats


@dataclass(frozen=True)
class PullResult:
    remote: str
    url: str
    runs: int  # runs fetched
    objects: int  # objects taken (metadata and data)
    bytes: int
    tags: tuple[TagUpdate, ...]
    requests: int
    seconds: float


@paused_collector()
def pull(
    repo: Repo,
    targets: list[str],
    remote_name: str | None,
    progress: Meter | None = None,
) -> PullResult:
    """Fetch from `remote_name` (else the default remote), then take the data of `targets`."""
    from mlvc.porcelain.fetch import fetch_runs, learn_tombstones, open_session
    from mlvc.porcelain.remotetags import fetch_tags

    session = open_session(repo, remote_name)
    runs, meta = fetch_runs(repo, session)
    tags = fetch_tags(repo, session.remote)
    learn_tombstones(repo, session.remote)  # purged there: not asked for, named as purged
    roots: list[bytes] = [_root(repo, t) for t in targets] or list(session.remote.runs())
    data = _take_missing(repo, session, missing_data(repo, roots), progress)
    return PullResult(
        session.name,
        session.url,
        len(runs),
        meta.objects + data.objects,
        meta.bytes + data.bytes,
        tuple(tags),
        session.remote.transport.requests,
        round(time.monotonic() - session.started, 3),
    )


def _root(repo: Repo, target: str) -> bytes:
    if "@" in target:
        return resolve_path_at(repo, target).record.id
    try:
        return resolve_run(repo, target)
    except UnknownRefError as exc:
        try:
            return resolve_path_at(repo, f"{target}@").record.id
        except UnknownRefError:
            raise exc from None


def missing_data(repo: Repo, roots: list[bytes]) -> set[ObjectId]:
    """What the objects `roots` reach need and this store lacks. Metadata is local once
    its runs are fetched, so what is missing is file data (chunks). A root whose place
    was just looked up (`prefetch`) as a chunk reaches nothing more; as a manifest, its
    chunks are looked up as its restore will want them (`restore.lacking`). The others
    are walked (`local_closure`) unless the index shows them all to be chunks here."""
    from mlvc.store.restore import lacking

    store = repo.store
    unknown: set[ObjectId] = set()
    rest = []
    for root in roots:
        at = store.known(root)
        if at is None:
            rest.append(root)
        elif at.entry.kind is Kind.MANIFEST:
            absent = lacking(store, root)
            if absent is None:
                rest.append(root)
            else:
                unknown |= absent
        elif at.entry.kind is not Kind.CHUNK:
            rest.append(root)
    if rest:
        rest = repo.index.not_all_chunks(rest)  # mostly small files: a query per 500
    if rest:
        unknown |= local_closure(repo, rest, follow_runs=False)[1]
    if not unknown:
        return set()
    gone = purged.read(repo.dir)  # purged on purpose: never taken back from a remote
    return {oid for oid in unknown if oid.hex() not in gone}


def local_closure(
    repo: Repo, roots: list[bytes], follow_runs: bool, leaf: bytes | None = None
) -> tuple[dict[ObjectId, Kind], set[ObjectId]]:
    """What `roots` reach in this store, and the ids it does not hold. `leaf`: an object
    counted but not entered (what the rest needs, apart from what only it needs)."""

    def read(oid: bytes) -> bytes | None:
        return None if oid == leaf else repo.store.get(oid)[1]

    return closure(roots, repo.store.kinds, read, follow_runs)


def _take_missing(
    repo: Repo, session: Session, missing: set[ObjectId], progress: Meter | None
) -> DownloadStats:
    from mlvc.store.download import take

    held = [oid for oid in missing if session.catalog.kind(oid) is not None]
    if progress is not None:
        progress.set_total(sum(session.catalog.where[oid][1].stored_len for oid in held))
    return take(session.remote, session.catalog, repo.store, held, progress, _halves)


def _halves(count: int, here: Callable[[], T], there: Callable[[], Any]) -> tuple[T, Any]:
    """`there` in a forked process beside `here` when `count` items are worth one (the
    one fork policy); else only `here`, and None for `there` (its caller runs it)."""
    from mlvc.forked import share, worth_forking

    return share(here, there) if worth_forking(count) else (here(), None)


class SessionAhead:
    """The default remote opened on a thread (importing its client, listing its packs,
    reading its index files) while the caller plans, for a command likely to need it.
    Its failure is raised only if the session is asked for; the thread never holds up
    the process's exit."""

    def __init__(self, repo: Repo) -> None:
        self._session: Session | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._open, args=(repo,), daemon=True)
        self._thread.start()

    def _open(self, repo: Repo) -> None:
        from mlvc.porcelain.fetch import open_session

        try:
            self._session = open_session(repo, None)  # reads config and files: no index
        except BaseException as exc:  # raised in the thread that asks for the session
            self._error = exc

    def session(self) -> Session:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._session is not None
        return self._session


def ensure_local(
    repo: Repo,
    roots: list[bytes],
    progress: Meter | None = None,
    strict: bool = True,
    ahead: SessionAhead | None = None,
) -> DownloadStats | None:
    """Before a checkout writes files (`roots`: their ids) or a reproduction re-executes
    a run (its id, `strict=False`): take from the default remote whatever they need that
    this store lacks. Nothing to take: no remote is opened (unless `ahead` opened it
    already, on the chance). `strict`: data on no store is an error naming it (a run
    also names ids nothing stored, such as its scripts' file ids in git, so a run's
    closure is taken as far as the remote has it)."""
    missing = missing_data(repo, roots)
    if not missing or (not strict and not repo.config.remotes):
        return None
    if not repo.config.remotes:
        raise ObjectNotFoundError(
            f"the data of {len(missing)} object(s) (e.g. {short(min(missing))}) is not in "
            "this store",
            hint="the run was fetched from a remote: add it (mlvc remote add NAME URL "
            "--default) and check out again, or run mlvc pull",
        )
    if ahead is None:
        from mlvc.porcelain.fetch import open_session

        session = open_session(repo, None)
    else:
        session = ahead.session()
    stats = _take_missing(repo, session, missing, progress)
    absent = [oid for oid in missing if session.catalog.kind(oid) is None]
    if absent and strict:
        raise ObjectNotFoundError(
            f"object {short(min(absent))} ({len(absent)} in all) is neither in this store "
            f"nor on {session.remote.where}",
            hint="push it from the clone that recorded the run, then check out again",
        )
    return stats
