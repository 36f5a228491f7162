"""`mlvc push`: send every local run, and every object the runs need, to a remote.

Order (docs/format.md, Remote layout): the packs the remote lacks, each followed by its
index file, then one run list naming the runs the remote did not list yet. A push
killed part way leaves packs a later push recognises by their index files; the runs
appear on the remote only once everything they reach is there.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mlvc.porcelain.remote import find_remote, open_remote
from mlvc.repo import Repo
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


def push(
    repo: Repo,
    remote_name: str | None,
    progress: Progress | None = None,
    jobs: int = DEFAULT_JOBS,
) -> PushResult:
    """Upload what `remote_name` (else the default remote) lacks of this store, with
    `jobs` packs, and parts of packs, in flight at once."""
    started = time.monotonic()
    config = find_remote(repo, remote_name)
    remote = open_remote(repo, config)
    remote.transport.jobs = jobs
    have = {e.id for pack in remote.packs().values() for e in pack.entries}
    runs = set(repo.index.history.run_ids(ok_only=False))
    by_pack = repo.index.entries_by_pack()
    scratch = repo.dir / "tmp"
    scratch.mkdir(exist_ok=True)
    outgoing = tempfile.mkdtemp(prefix="push-", dir=scratch)
    try:
        uploader = Uploader(repo.dir / "packs", remote, Path(outgoing), progress, jobs)
        stats = uploader.run(by_pack, have)
    finally:
        shutil.rmtree(outgoing, ignore_errors=True)
    new_runs = runs - remote.runs()
    if new_runs:
        remote.add_run_list(new_runs)
    return PushResult(
        config.name,
        config.url,
        stats.packs,
        stats.objects,
        stats.bytes,
        len(new_runs),
        remote.transport.requests,
        round(time.monotonic() - started, 3),
    )
