"""`mlvc index rebuild`: a new index.db from the packs alone, replayed in run order.

The index is a cache. Rebuilding reads every pack's trailer (objects), decodes every run
object, and replays the runs ordered by (start time, id), which is the order every
lineage query uses, so the answers after a rebuild are the answers before it. The stat
cache cannot be rebuilt: the next status re-hashes tracked files once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mlvc.errors import CorruptPackError, MlvcError
from mlvc.ids import Kind, short
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
    index, store = scratch.index, scratch.store
    skipped: list[str] = []
    packs = runs = 0
    try:
        index.begin()
        run_ids: list[bytes] = []
        for pack in sorted((repo.dir / "packs").glob("*.pack")):
            if pack.name.startswith("tmp-"):
                continue
            try:
                entries = read_table(pack)
            except CorruptPackError:
                skipped.append(pack.name)
                continue
            index.add_pack(pack.stem, entries)
            run_ids += [e.id for e in entries if e.kind is Kind.RUN]
            packs += 1
        found = set(run_ids)
        log = runlog.read(repo.dir / runlog.NAME)
        committed = found if log is None else set(log.runs)  # no log: an older store
        forgotten = set() if log is None else log.forgotten
        loaded = []
        damaged: list[str] = []
        for oid in sorted(found & committed):
            try:
                loaded.append((oid, Run.decode(store.get(oid)[1], f"run {short(oid)}")))
            except MlvcError:
                damaged.append(oid.hex())
        loaded.sort(key=lambda item: (item[1].started, item[0]))
        for oid, run in loaded:
            try:
                _replay(scratch, oid, run)
            except MlvcError:  # a damaged tree it reaches: the run is listed, not indexed
                damaged.append(oid.hex())
                continue
            runs += 1
        objects = index.count_objects()
        index.commit()
    except BaseException:
        index.rollback()
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
