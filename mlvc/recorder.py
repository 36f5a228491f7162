"""Recording a run or snapshot: its object into the store, then its lineage into the index.

Order (restic's rule: each step durable before the next): the run object is packed with
the content it points at and the packs are published; only then does one index
transaction add the run, its path versions, its input edges, the tracked paths and the
refreshed stat-cache rows. A crash before the transaction leaves unreferenced objects,
never an index row that points at nothing. Last, the run's `tags` (`mlvc run -t`,
`start_run(name=)`) are pointed at it, as `mlvc tag` would: a tag names a recorded run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mlvc.ids import Kind, ObjectId
from mlvc.objects import Run
from mlvc.repo import Repo
from mlvc.store import steps
from mlvc.store.index import FileRow, TrackedFile
from mlvc.store.statrows import StatRow, StatRows


@dataclass
class IndexRows:
    """What a run adds to the index besides its own row."""

    files: dict[str, Iterable[FileRow]] = field(default_factory=dict)
    """Output path -> the files inside it (path, id, kind, size): a tree's files get path
    versions of their own, so a file read later finds the run that produced it."""
    tracked: dict[str, list[TrackedFile]] = field(default_factory=dict)
    """Root -> the files now tracked under it (an empty list untracks the root)."""
    stat_rows: StatRows | list[tuple[str, StatRow]] = field(default_factory=list)


def record(repo: Repo, run: Run, rows: IndexRows) -> ObjectId:
    """Store the run object and write its index rows, in the transaction that records
    the packs holding it and its outputs (committed once those packs are durable)."""
    store, index = repo.store, repo.index

    def write_rows() -> None:
        index.add_run_rows(run_id, run, rows.files)
        for root, files in rows.tracked.items():
            index.replace_tracked(root, files)
        index.put_stat_rows(rows.stat_rows)

    try:
        run_id = store.put_object(Kind.RUN, run.encode())
        store.commit(write_rows)
    except BaseException:
        store.abort()
        raise
    _tag(repo, run_id, run)
    steps.remember(repo.dir, {run_id: run})  # if it is a step of the inferred pipeline
    return run_id


def _tag(repo: Repo, run_id: ObjectId, run: Run) -> None:
    """Point each of the run's tags at it (an existing tag moves; its log keeps where it
    pointed before). The names were checked before the command ran."""
    if not run.tags:
        return
    from mlvc.store.index import owner_name
    from mlvc.store.refs import Tags

    tags = Tags(repo.dir)
    for name in run.tags:
        tags.move(name, run_id, tags.get(name), owner_name(run.owner), run.ended, run.message)
