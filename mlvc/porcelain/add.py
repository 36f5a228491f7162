"""`mlvc add`: snapshot files and directories and record a snapshot run."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlvc import clock
from mlvc.errors import PathNotFoundError
from mlvc.ids import Kind, ObjectId
from mlvc.objects import PathRecord, Run
from mlvc.repo import Repo
from mlvc.workspace.ignore import Ignore
from mlvc.workspace.scan import walk
from mlvc.workspace.snapshot import Snapshotter


@dataclass(frozen=True)
class AddedPath:
    path: str
    kind: str
    id: ObjectId
    size: int
    changed: bool


@dataclass(frozen=True)
class AddResult:
    run_id: ObjectId | None
    paths: tuple[AddedPath, ...]
    files: int


def _targets(repo: Repo, paths: list[Path], cwd: Path, ignore: Ignore) -> list[str]:
    targets: list[str] = []
    for path in paths:
        rel = repo.relpath(path, cwd)
        if not os.path.lexists(repo.abspath(rel)):
            raise PathNotFoundError(f"pathspec '{path}' did not match any file")
        if rel == "":
            # Adding the workspace root tracks each top-level entry on its own.
            tops = {st.rel.split("/")[0] for st in walk(repo.root, "", ignore)}
            targets.extend(sorted(tops))
        else:
            targets.append(rel)
    return list(dict.fromkeys(targets))


def add(
    repo: Repo,
    paths: list[Path],
    cwd: Path,
    owner: dict[str, Any],
    message: str = "",
    progress: Callable[[int], None] | None = None,
) -> AddResult:
    started = clock.now()
    ignore = Ignore.load(repo.root)
    targets = _targets(repo, paths, cwd, ignore)
    index = repo.index
    versions = {p: v for p in targets if (v := index.latest_version(p)) is not None}
    snap = Snapshotter(repo.root, repo.store, ignore, index.stat_rows(), progress)
    records: dict[str, PathRecord] = {}
    added = []
    try:
        for rel in targets:
            record = snap.snapshot(rel, rel)
            changed = versions.get(rel) != record.id
            records[rel] = record
            added.append(AddedPath(rel, record.kind, record.id, record.size, changed))
        outputs = {p: r for p, r in records.items() if versions.get(p) != r.id}
        run_id = None
        if outputs:
            run = Run(
                kind="snapshot",
                started=started,
                ended=clock.now(),
                status="ok",
                command=("mlvc", "add", *targets),
                outputs=outputs,
                owner=owner,
                message=message,
            )
            run_id = repo.store.put_object(Kind.RUN, run.encode())
        repo.store.commit()
    except BaseException:
        repo.store.abort()
        raise
    index.begin()
    try:
        if run_id is not None:
            seq = index.add_run(run_id, "snapshot", started, "ok")
            for path, record in outputs.items():
                index.add_path_version(path, seq, record.id, record.kind, record.size)
        for rel in targets:
            index.replace_tracked(rel, (f for f in snap.files if f.root == rel))
        index.put_stat_rows(snap.new_stats)
        index.commit()
    except BaseException:
        index.rollback()
        raise
    return AddResult(run_id, tuple(added), len(snap.files))
