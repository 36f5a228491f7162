"""`mlvc fetch`: learn the runs and tags a remote holds; their data stays there.

The runs a remote lists (its run lists) that this store lacks are taken with the
metadata they reach (runs, trees, manifests), every object verified against its id and
schema before anything is kept, then indexed so that `log`, `diff`, `blame` and `graph`
include them. Workspace state (tracked paths) is untouched: fetching never changes what
`status` compares the workspace with. Tags: a tag this store lacks, or one the remote
moved on from this store's value, is taken with its history; a tag that went another way
here is kept and reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mlvc.errors import CorruptObjectError
from mlvc.ids import Kind, ObjectId, short
from mlvc.objects import Run
from mlvc.porcelain.rebuild import index_run
from mlvc.porcelain.remote import find_remote, open_remote
from mlvc.porcelain.remotetags import TagUpdate, fetch_tags
from mlvc.repo import Repo
from mlvc.store import purged, steps
from mlvc.store.download import Catalog, DownloadStats, read_metadata
from mlvc.store.reach import METADATA, closure
from mlvc.store.remote import Remote
from mlvc.store.remotepurge import tombstones

Progress = Callable[[int], None]


class Meter(Protocol):
    """A progress display: bytes done as they come, and the total once it is known."""

    def __call__(self, n: int) -> None: ...

    def set_total(self, total: int) -> None: ...


@dataclass(frozen=True)
class FetchResult:
    remote: str
    url: str
    runs: int  # runs learned
    objects: int  # metadata objects taken
    bytes: int
    tags: tuple[TagUpdate, ...]
    requests: int
    seconds: float
    purged: int = 0  # tombstones learned: contents purged on the remote


@dataclass
class Session:
    """An open remote and what it holds, shared by fetch and pull in one command."""

    name: str
    url: str
    remote: Remote
    catalog: Catalog
    started: float


def open_session(repo: Repo, remote_name: str | None) -> Session:
    started = time.monotonic()
    config = find_remote(repo, remote_name)
    remote = open_remote(repo, config)
    return Session(config.name, config.url, remote, Catalog(remote.packs()), started)


def fetch(repo: Repo, remote_name: str | None, progress: Progress | None = None) -> FetchResult:
    """Take the runs and tags of `remote_name` (else the default remote) this store lacks."""
    session = open_session(repo, remote_name)
    runs, stats = fetch_runs(repo, session, progress)
    tags = fetch_tags(repo, session.remote)
    stones = learn_tombstones(repo, session.remote)
    return FetchResult(
        session.name,
        session.url,
        len(runs),
        stats.objects,
        stats.bytes,
        tuple(tags),
        session.remote.transport.requests,
        round(time.monotonic() - session.started, 3),
        stones,
    )


def learn_tombstones(repo: Repo, remote: Remote) -> int:
    """Keep the remote's tombstones here too, so pull and checkout say a content was
    purged rather than missing (bytes this store still holds stay readable)."""
    known = purged.read(repo.dir)
    new = [s for h, s in tombstones(remote).items() if h not in known]
    if new:
        purged.add(repo.dir, new)
    return len(new)


def fetch_runs(
    repo: Repo, session: Session, progress: Progress | None = None
) -> tuple[list[ObjectId], DownloadStats]:
    """The runs the remote lists and this store lacks, with the metadata they reach:
    all verified first, then kept in one commit, then indexed in one transaction."""
    stats = DownloadStats()
    known = set(repo.index.history.run_ids(ok_only=False))
    new = sorted(session.remote.runs() - known)
    if not new:
        return [], stats
    catalog = session.catalog
    candidates = [oid for oid, (_, e) in catalog.where.items() if e.kind in METADATA]
    fetched = read_metadata(session.remote, catalog, repo.index.missing(candidates))

    def kinds_of(oids: list[bytes]) -> dict[bytes, Kind]:
        kinds = {oid: kind for oid in oids if (kind := catalog.kind(oid)) is not None}
        local = repo.index.locate_many([oid for oid in oids if oid not in kinds])
        kinds.update((oid, loc.entry.kind) for oid, loc in local.items())
        return kinds

    def read(oid: bytes) -> bytes:
        found = fetched.get(ObjectId(oid))
        return found[2] if found is not None else repo.store.get(oid)[1]

    reach, _ = closure(new, kinds_of, read)
    for run_id in new:
        if reach.get(run_id) is not Kind.RUN:
            raise CorruptObjectError(
                f"{session.remote.where} lists run {short(run_id)} but holds no such run",
                hint="the remote is damaged or was pruned; nothing was taken from it",
            )
    for oid in reach:
        if oid in fetched:
            entry, stored, _ = fetched[oid]
            repo.store.put_stored(entry, stored)
            stats.objects += 1
            stats.bytes += entry.stored_len
            if progress is not None:
                progress(entry.stored_len)
    try:
        repo.store.commit()
    except BaseException:
        repo.store.abort()
        raise
    loaded = [(oid, Run.decode(read(oid), f"run {short(oid)}")) for oid in new]
    loaded.sort(key=lambda item: (item[1].started, item[0]))
    with repo.index.transaction():
        for oid, run in loaded:
            index_run(repo, oid, run)
    steps.remember(repo.dir, dict(loaded))  # the first status need not load them again
    return new, stats
