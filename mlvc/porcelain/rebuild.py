"""`mlvc index rebuild`: a new index.db from the packs alone, replayed in run order.

The index is a cache. Rebuilding reads every pack's trailer (objects), decodes every run
object, and replays the runs ordered by (start time, id), which is the order every
lineage query uses, so the answers after a rebuild are the answers before it. The stat
cache cannot be rebuilt: the next status re-hashes tracked files once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlvc.errors import CorruptPackError
from mlvc.ids import Kind, short
from mlvc.lineage.resolve import flatten_tree
from mlvc.objects import Run
from mlvc.repo import Repo
from mlvc.store.index import TrackedFile
from mlvc.store.pack import read_table


@dataclass(frozen=True)
class RebuildResult:
    packs: int
    objects: int
    runs: int
    skipped_packs: list[str]


def rebuild(repo: Repo) -> RebuildResult:
    final = repo.dir / "index.db"
    tmp = repo.dir / "index.rebuild.db"
    for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
        leftover.unlink(missing_ok=True)
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
        loaded = []
        for oid in set(run_ids):
            _, data = store.get(oid)
            loaded.append((oid, Run.decode(data, f"run {short(oid)}")))
        loaded.sort(key=lambda item: (item[1].started, item[0]))
        for oid, run in loaded:
            _replay(scratch, oid, run)
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
    return RebuildResult(packs, objects, runs, skipped)


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
