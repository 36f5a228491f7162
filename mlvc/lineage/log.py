"""`mlvc log`: runs newest first, or every version of one path and the run that made it.

Reproductions are listed under the run they reproduce, never on their own; safety
snapshots (what a checkout replaced) and failed runs only with `include_all`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlvc.ids import ObjectId
from mlvc.lineage.resolve import flatten_tree, load_run
from mlvc.objects import MAINLINE_ROLES, Run, run_role
from mlvc.repo import Repo
from mlvc.store.refs import Tags


@dataclass(frozen=True)
class Reproduction:
    """A reproduction of a listed run: `identical` when it exited alike and wrote the
    same content at every output path, else `differs`."""

    id: ObjectId
    started: str
    verdict: str


@dataclass(frozen=True)
class RunSummary:
    id: ObjectId
    kind: str
    started: str
    ended: str
    status: str
    exit_code: int | None
    owner: str
    command: list[str]
    message: str
    metrics: dict[str, Any]
    tags: list[str]
    role: str = "run"
    reproductions: list[Reproduction] = field(default_factory=list)


def log_runs(
    repo: Repo,
    limit: int | None = None,
    since: str | None = None,
    owner: str | None = None,
    include_all: bool = False,
    offset: int = 0,
) -> list[RunSummary]:
    """Runs newest first: at most `limit` of them, after skipping the first `offset`."""
    tags = Tags(repo.dir).pointing_at()
    roles = (*MAINLINE_ROLES, "safety") if include_all else MAINLINE_ROLES
    history = repo.index.history
    reproduced = _reproductions(repo)
    found = []
    for oid in history.run_ids(
        limit, since, owner, ok_only=not include_all, roles=roles, offset=offset
    ):
        run = load_run(repo, oid)
        found.append(
            RunSummary(
                oid,
                run.kind,
                run.started,
                run.ended,
                run.status,
                run.exit_code,
                str(run.owner.get("user", "")),
                list(run.command),
                run.message,
                {k: v for k, v in run.metrics.items() if isinstance(v, int | float)},
                tags.get(oid, []),
                run_role(run),
                [_verdict(run, r_id, r) for r_id, r in reproduced.get(oid, [])],
            )
        )
    return found


def _reproductions(repo: Repo) -> dict[bytes, list[tuple[ObjectId, Run]]]:
    """Every recorded reproduction, by the run it reproduces, oldest first."""
    found: dict[bytes, list[tuple[ObjectId, Run]]] = {}
    for oid in repo.index.history.reproductions():
        run = load_run(repo, oid)
        if run.reproduces is not None:
            found.setdefault(run.reproduces, []).append((oid, run))
    return found


def _verdict(original: Run, oid: ObjectId, repro: Run) -> Reproduction:
    def written(run: Run) -> dict[str, tuple[bytes, str]]:
        return {path: (rec.id, rec.kind) for path, rec in run.outputs.items()}

    same = original.exit_code == repro.exit_code and written(original) == written(repro)
    return Reproduction(oid, repro.started, "identical" if same else "differs")


@dataclass(frozen=True)
class PathVersion:
    path: str
    id: ObjectId | None  # None: the path was removed by this run
    kind: str
    size: int
    run: ObjectId
    run_kind: str
    started: str
    owner: str
    commit: str | None
    command: list[str]
    size_delta: int | None = None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    consumers: list[ObjectId] = field(default_factory=list)


def log_path(
    repo: Repo, path: str, consumers: bool = False, include_all: bool = False
) -> list[PathVersion]:
    """Every recorded version of `path`, newest first, with what changed from the one
    before (`include_all`: also those reproductions and safety snapshots wrote). A
    directory that was never an output itself is shown through the files under it
    that runs wrote."""
    path = path.strip("/")
    rows: list[tuple[Any, ...]] = list(repo.index.history.versions(path, include_all))
    whole = {row[4] for row in rows}
    # A run that wrote only files below the path (a directory recorded whole once, then
    # written piecewise, as Kedro's versioned datasets are) is a version of it too.
    rows += [row for row in _under(repo, path) if row[4] not in whole]
    versions = [_version(repo, row, consumers) for row in rows]
    versions.sort(key=lambda v: (v.started, v.run), reverse=True)
    older: list[PathVersion | None] = [*versions[1:], None]
    return [
        _with_changes(repo, v, o) for v, o in zip(versions, older[: len(versions)], strict=True)
    ]


def _under(repo: Repo, path: str) -> list[tuple[Any, ...]]:
    """Versions of a directory assembled from the files runs wrote under it: one row per
    run, as a pseudo-version of kind 'dir' listing those files."""
    grouped: dict[bytes, list[tuple[Any, ...]]] = {}
    for row in repo.index.history.versions_under(path):
        if row.kind != "tree":  # a subdirectory's own row: its files are listed already
            grouped.setdefault(row.run, []).append(row)
    return [
        (path, None, "dir", sum(r[3] for r in group), run, [r[0] for r in group])
        for run, group in grouped.items()
    ]


def _version(repo: Repo, row: tuple[Any, ...], consumers: bool) -> PathVersion:
    path, oid, kind, size, run_id = row[:5]
    run = load_run(repo, run_id)
    readers: list[ObjectId] = []
    if consumers and oid:
        readers = _consumers(repo, path, oid, kind)
    listed = sorted(row[5]) if kind == "dir" else []
    return PathVersion(
        path,
        ObjectId(oid) if oid else None,
        kind,
        size,
        ObjectId(run_id),
        run_role(run),
        run.started,
        str(run.owner.get("user", "")),
        run.code.get("commit"),
        list(run.command),
        modified=listed,
        consumers=readers,
    )


def _consumers(repo: Repo, path: str, oid: bytes, kind: str) -> list[ObjectId]:
    """Runs that read this version: the path itself, or for a tree any file inside it
    at the content this tree holds."""
    readers = repo.index.history.readers(path, oid)
    if kind == "tree":
        files = {f"{path}/{rel}": rec.id for rel, rec in flatten_tree(repo, oid).items()}
        for run_id, in_path, in_id in repo.index.history.reads_under(path):
            if files.get(in_path) == in_id:
                readers.append(run_id)
    return list(dict.fromkeys(readers))


def _with_changes(repo: Repo, version: PathVersion, older: PathVersion | None) -> PathVersion:
    if older is None or "dir" in (version.kind, older.kind):
        return version  # a pseudo-version's size is what one run wrote: no delta
    delta = version.size - older.size
    if version.kind != "tree" or older.kind != "tree" or version.id == older.id:
        return _replace(version, size_delta=delta)
    assert version.id is not None and older.id is not None
    new, old = flatten_tree(repo, version.id), flatten_tree(repo, older.id)
    return _replace(
        version,
        size_delta=delta,
        added=sorted(set(new) - set(old)),
        removed=sorted(set(old) - set(new)),
        modified=sorted(p for p in set(new) & set(old) if new[p].id != old[p].id),
    )


def _replace(version: PathVersion, **changes: Any) -> PathVersion:
    from dataclasses import replace

    return replace(version, **changes)
