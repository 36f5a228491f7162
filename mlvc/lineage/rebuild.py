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
from mlvc.ids import Kind
from mlvc.lineage.resolve import flatten_tree
from mlvc.objects import Run
from mlvc.recorder import REMOVED, owner_name
from mlvc.repo import Repo
from mlvc.store.index import Index, TrackedFile
from mlvc.store.objectstore import ObjectStore
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
    index = Index(tmp)
    store = ObjectStore(repo.dir / "packs", index, repo.config.chunking)
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
            loaded.append((oid, Run.decode(data, f"run {oid.hex()[:12]}")))
        loaded.sort(key=lambda item: (item[1].started, item[0]))
        scratch = Repo(repo.root, repo.config)
        scratch.__dict__["index"], scratch.__dict__["store"] = index, store
        for oid, run in loaded:
            _replay(scratch, index, oid, run)
            runs += 1
        objects = index.count_objects()
        index.commit()
    except BaseException:
        index.rollback()
        index.close()
        tmp.unlink(missing_ok=True)
        raise
    store.close()
    index.close()
    repo.close()
    for stale in ("index.db-wal", "index.db-shm", "worktree.msgpack"):
        (repo.dir / stale).unlink(missing_ok=True)
    os.replace(tmp, final)
    return RebuildResult(packs, objects, runs, skipped)


def _replay(repo: Repo, index: Index, oid: bytes, run: Run) -> None:
    """What recorder.record wrote for this run, derived from the run object alone."""
    seq = index.add_run(oid, run.kind, run.started, run.status, owner_name(run.owner))
    for path, out in run.outputs.items():
        versions: list[tuple[str, bytes, str, int]] = [(path, out.id, out.kind, out.size)]
        files = [TrackedFile(path, path, out.id, out.kind, out.size)]
        if out.kind == "tree":
            files = [
                TrackedFile(f"{path}/{rel}", path, rec.id, rec.kind, rec.size)
                for rel, rec in flatten_tree(repo, out.id).items()
            ]
            versions += [(f.path, f.id, f.kind, f.size) for f in files]
        index.add_path_versions(seq, versions)
        index.replace_tracked(path, files)
    for path in run.removed:
        index.add_path_versions(seq, [(path, REMOVED, "removed", 0)])
        index.replace_tracked(path, [])
    for path, inp in run.inputs.items():
        index.add_input(seq, path, inp.id, inp.producer_run)
