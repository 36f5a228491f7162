"""`mlvc push`: send every local run, and every object the runs need, to a remote.

Order (docs/format.md, Remote layout): the packs the remote lacks, each followed by its
index file, then one run list naming the runs the remote did not list yet. A push
killed part way leaves packs a later push recognises by their index files; the runs
appear on the remote only once everything they reach is there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlvc.ids import Kind
from mlvc.lineage.resolve import UnknownRefError, latest_producer, resolve_run
from mlvc.porcelain.pull import local_closure
from mlvc.porcelain.remote import find_remote, open_remote
from mlvc.porcelain.remotetags import TagUpdate, push_tags
from mlvc.repo import Repo
from mlvc.store.fsutil import pid_alive
from mlvc.store.refs import Tags
from mlvc.store.remotepurge import doomed_ids, tombstones
from mlvc.store.transport import DEFAULT_JOBS
from mlvc.store.upload import Progress, Uploader


@dataclass(frozen=True)
class PushResult:
    remote: str
    url: str
    packs: int
    objects: int
    bytes: int
    runs: int
    requests: int
    seconds: float
    tags: tuple[TagUpdate, ...] = ()
    aborted_uploads: int = 0  # left unfinished by a push of this clone that was killed


def push(
    repo: Repo,
    remote_name: str | None,
    progress: Progress | None = None,
    user: str = "",
    targets: Sequence[str] = (),
    jobs: int = DEFAULT_JOBS,
) -> PushResult:
    """Upload what `remote_name` (else the default remote) lacks of the closure of
    `targets` (runs, tags, paths: the run that made each path's newest version, with its
    ancestors), or of the whole store when there are none, with `jobs` packs, and parts
    of packs, in flight at once."""
    started = time.monotonic()
    config = find_remote(repo, remote_name)
    remote = open_remote(repo, config)
    remote.transport.jobs = jobs
    aborted = remote.transport.abort_abandoned()
    have = {e.id for pack in remote.packs().values() for e in pack.entries}
    have |= doomed_ids(tombstones(remote))  # purged there: never uploaded again
    by_pack = repo.index.entries_by_pack()
    if targets:
        reach, _ = local_closure(repo, [_run(repo, t) for t in targets], follow_runs=True)
        by_pack = {n: [e for e in es if e.id in reach] for n, es in by_pack.items()}
        runs = {oid for oid, kind in reach.items() if kind is Kind.RUN}
    else:
        runs = set(repo.index.history.run_ids(ok_only=False))
    scratch = repo.dir / "tmp"
    scratch.mkdir(exist_ok=True)
    reclaim_scratch(scratch)
    outgoing = tempfile.mkdtemp(prefix=f"push-{os.getpid()}-", dir=scratch)
    try:
        uploader = Uploader(repo.dir / "packs", remote, Path(outgoing), progress, jobs)
        stats = uploader.run(by_pack, have)
    finally:
        shutil.rmtree(outgoing, ignore_errors=True)
    new_runs = runs - remote.runs()
    if new_runs:
        remote.add_run_list(new_runs)
    # After the run list: a tag never names a run a reader cannot see.
    tags = push_tags(repo, remote, user, [t for t in targets if Tags(repo.dir).get(t)] or None)
    return PushResult(
        config.name,
        config.url,
        stats.packs,
        stats.objects,
        stats.bytes,
        len(new_runs),
        remote.transport.requests,
        round(time.monotonic() - started, 3),
        tuple(tags),
        aborted,
    )


def _run(repo: Repo, target: str) -> bytes:
    """A run named by ref, or the run that made a path's newest version."""
    try:
        return resolve_run(repo, target)
    except UnknownRefError as exc:
        try:
            return latest_producer(repo, target.strip("/"))
        except UnknownRefError:
            raise exc from None


def reclaim_scratch(scratch: Path) -> None:
    """Remove the scratch packs of pushes and purges that were killed (pid gone)."""
    for leftover in [*scratch.glob("push-*"), *scratch.glob("purge-*")]:
        pid = leftover.name.split("-")[1]
        if not pid.isdigit() or not pid_alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)
