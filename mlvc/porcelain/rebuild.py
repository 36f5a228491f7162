"""`mlvc index rebuild`: a new index.db from the packs alone, replayed in run order.

The index is a cache. Rebuilding reads every pack's trailer (objects), decodes every run
object, and replays the runs ordered by (start time, id), which is the order every
lineage query uses, so the answers after a rebuild are the answers before it. The stat
cache cannot be rebuilt: the next status re-hashes tracked files once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mlvc.errors import CorruptPackError, MlvcError
from mlvc.ids import Kind, ObjectId, short
from mlvc.lineage.resolve import flatten_tree
from mlvc.objects import Run
from mlvc.repo import Repo
from mlvc.store import runlog
from mlvc.store.db import CorruptIndexError, connect
from mlvc.store.index import TrackedFile
from mlvc.store.pack import read_table


@dataclass(frozen=True)
class RebuildResult:
    packs: int
    objects: int
    runs: int
    skipped_packs: list[str]
    uncommitted: list[str] = field(default_factory=list)  # runs in packs no log line names
    missing: list[str] = field(default_factory=list)  # committed runs no pack holds
    damaged: list[str] = field(default_factory=list)  # runs (or their trees) that fail to read


def rebuild(repo: Repo) -> RebuildResult:
    final = repo.dir / "index.db"
    tmp = repo.dir / "index.rebuild.db"
    if final.is_dir():
        raise CorruptIndexError(f"index {final} is a directory", hint="move it aside")
    for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
        leftover.unlink(missing_ok=True)
    # The old index is not opened: it may be damaged or missing, which is why a rebuild
    # runs. The new one keeps the config's chunking parameters.
    connect(tmp, create=True).close()
    scratch = Repo(repo.root, repo.config, index_name=tmp.name)
    try:
        scratch.index.begin()
        packs, skipped, found = _index_packs(scratch, repo.dir / "packs")
        log = runlog.read(repo.dir / runlog.NAME)
        committed = found if log is None else set(log.runs)  # no log: an older store
        forgotten = set() if log is None else log.forgotten
        runs, damaged = _replay_runs(scratch, found & committed)
        objects = scratch.index.count_objects()
        scratch.index.commit()
    except BaseException:
        scratch.index.rollback()
        scratch.close()
        tmp.unlink(missing_ok=True)
        raise
    scratch.close()
    repo.close()
    for stale in ("index.db-wal", "index.db-shm", "worktree.msgpack"):
        (repo.dir / stale).unlink(missing_ok=True)
    os.replace(tmp, final)
    return RebuildResult(
        packs,
        objects,
        runs,
        skipped,
        sorted(oid.hex() for oid in found - committed - forgotten),
        sorted(oid.hex() for oid in committed - found),
        damaged,
    )


def _index_packs(scratch: Repo, packs_dir: Path) -> tuple[int, list[str], set[ObjectId]]:
    """Every sound pack's entries into the new index; returns how many packs, the
    damaged ones skipped, and the runs found."""
    skipped: list[str] = []
    found: set[ObjectId] = set()
    packs = 0
    for pack in sorted(packs_dir.glob("*.pack")):
        if pack.name.startswith("tmp-"):
            continue
        try:
            entries = read_table(pack)
        except CorruptPackError:
            skipped.append(pack.name)
            continue
        scratch.index.add_pack(pack.stem, entries)
        found.update(e.id for e in entries if e.kind is Kind.RUN)
        packs += 1
    return packs, skipped, found


def _replay_runs(scratch: Repo, committed: set[ObjectId]) -> tuple[int, list[str]]:
    """The committed runs' rows, in (start time, id) order; a run that cannot be read,
    or whose trees cannot, is left out and listed."""
    loaded = []
    damaged: list[str] = []
    for oid in sorted(committed):
        try:
            loaded.append((oid, Run.decode(scratch.store.get(oid)[1], f"run {short(oid)}")))
        except MlvcError:
            damaged.append(oid.hex())
    loaded.sort(key=lambda item: (item[1].started, item[0]))
    runs = 0
    for oid, run in loaded:
        try:
            _replay(scratch, oid, run)
        except MlvcError:  # a damaged tree it reaches
            damaged.append(oid.hex())
            continue
        runs += 1
    return runs, damaged


def _replay(repo: Repo, oid: bytes, run: Run) -> None:
    """What `record` wrote for this run, derived from the run object alone."""
    tracked = index_run(repo, oid, run)
    for path, files in tracked.items():
        repo.index.replace_tracked(path, files)
    for path in run.removed:
        repo.index.replace_tracked(path, [])


def index_run(repo: Repo, oid: bytes, run: Run) -> dict[str, list[TrackedFile]]:
    """A stored run's lineage rows (its trees read from the store); returns the files
    each output would make tracked, for callers that also restore the tracked paths."""
    tracked: dict[str, list[TrackedFile]] = {}
    for path, out in run.outputs.items():
        tracked[path] = [TrackedFile(path, path, out.id, out.kind, out.size)]
        if out.kind == "tree":
            tracked[path] = [
                TrackedFile(f"{path}/{rel}", path, rec.id, rec.kind, rec.size)
                for rel, rec in flatten_tree(repo, out.id).items()
            ]
    inside = {p: [(f.path, f.id, f.kind, f.size) for f in files] for p, files in tracked.items()}
    repo.index.add_run_rows(oid, run, inside)
    return tracked
