"""Recording a run or snapshot: its object into the store, then its lineage into the index.

Order (restic's rule: each step durable before the next): the run object is packed with
the content it points at and the packs are published; only then does one index
transaction add the run, its path versions, its input edges, the tracked paths and the
refreshed stat-cache rows. A crash before the transaction leaves unreferenced objects,
never an index row that points at nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mlvc.ids import Kind, ObjectId
from mlvc.objects import Run
from mlvc.repo import Repo
from mlvc.store.index import StatRow, TrackedFile

REMOVED = b""


@dataclass
class Lineage:
    """What a run adds to the index besides its own row."""

    files: dict[str, list[tuple[str, bytes, str, int]]] = field(default_factory=dict)
    """Output path -> the files inside it (path, id, kind, size): a tree's files get path
    versions of their own, so a file read later finds the run that produced it."""
    tracked: dict[str, list[TrackedFile]] = field(default_factory=dict)
    """Root -> the files now tracked under it (an empty list untracks the root)."""
    stat_rows: list[tuple[str, StatRow]] = field(default_factory=list)


def record(repo: Repo, run: Run, lineage: Lineage) -> ObjectId:
    """Store the run object and write its index rows, in the transaction that records
    the packs holding it and its outputs (committed once those packs are durable)."""
    store, index = repo.store, repo.index

    def rows() -> None:
        seq = index.add_run(run_id, run.kind, run.started, run.status, owner_name(run.owner))
        versions: list[tuple[str, bytes, str, int]] = [
            (path, out.id, out.kind, out.size) for path, out in run.outputs.items()
        ]
        for path in run.outputs:
            versions += [row for row in lineage.files.get(path, ()) if row[0] != path]
        versions += [(path, REMOVED, "removed", 0) for path in run.removed]
        index.add_path_versions(seq, versions)
        for path, inp in run.inputs.items():
            index.add_input(seq, path, inp.id, inp.producer_run)
        for root, files in lineage.tracked.items():
            index.replace_tracked(root, files)
        index.put_stat_rows(lineage.stat_rows)

    try:
        run_id = store.put_object(Kind.RUN, run.encode())
        store.commit(rows)
    except BaseException:
        store.abort()
        raise
    return run_id


def owner_name(owner: dict[str, object]) -> str:
    return str(owner.get("user") or "")


def tracked_files(files: Iterable[TrackedFile]) -> dict[str, list[TrackedFile]]:
    grouped: dict[str, list[TrackedFile]] = {}
    for f in files:
        grouped.setdefault(f.root, []).append(f)
    return grouped
