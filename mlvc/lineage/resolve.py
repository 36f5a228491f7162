"""Naming runs and recorded content: ids, prefixes, tags, `latest~N`, `latest:PATH`,
and `PATH@RUN` for a path's content as a run saw or left it.

Runs are ordered by (start time, id), never by insertion order: a rebuilt index must give
the same answers, and concurrent runs may be indexed in either order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlvc.errors import MlvcError, ObjectNotFoundError
from mlvc.ids import Kind, ObjectId, short
from mlvc.objects import PathRecord, Run
from mlvc.repo import Repo
from mlvc.store.refs import Tags

_LATEST = re.compile(r"latest(?:~(\d+))?")


class UnknownRefError(MlvcError):
    pass


def resolve_run(repo: Repo, text: str) -> ObjectId:
    """A run named by tag, `latest`, `latest~N`, `latest:PATH`, id or unique prefix."""
    text = text.strip()
    if (match := _LATEST.fullmatch(text)) is not None:
        return _nth_latest(repo, int(match.group(1) or 0), text)
    if text.startswith("latest:"):
        return latest_producer(repo, text[len("latest:") :].strip("/"))
    tag = Tags(repo.dir).get(text) if re.fullmatch(r"[A-Za-z0-9][\w.-]*", text) else None
    if tag is not None:
        return tag
    try:
        oid = repo.store.resolve(text)
    except ObjectNotFoundError:
        raise UnknownRefError(
            f"no run, tag or object named '{text}'",
            hint="see 'mlvc log' for run ids and 'mlvc tag' for tags",
        ) from None
    except MlvcError as exc:
        if "is not an object id" in exc.message:
            raise UnknownRefError(
                f"no run, tag or object named '{text}'",
                hint="see 'mlvc log' for run ids and 'mlvc tag' for tags",
            ) from None
        raise
    kind = repo.store.kind(oid)
    if kind is not Kind.RUN:
        raise UnknownRefError(f"{text} names a {kind.label}, not a run")
    return oid


def _nth_latest(repo: Repo, n: int, text: str) -> ObjectId:
    oid = repo.index.history.nth_latest(n)
    if oid is None:
        raise UnknownRefError(f"'{text}': there are not that many runs")
    return oid


def latest_producer(repo: Repo, path: str) -> ObjectId:
    oid = repo.index.history.latest_writer(path)
    if oid is None:
        raise UnknownRefError(
            f"no recorded run produced {path}", hint="see 'mlvc log' for what was recorded"
        )
    return oid


def load_run(repo: Repo, oid: bytes) -> Run:
    kind, data = repo.store.get(oid)
    if kind is not Kind.RUN:
        raise UnknownRefError(f"{short(oid)} is a {kind.label}, not a run")
    return Run.decode(data, f"run {short(oid)}")


@dataclass(frozen=True)
class PathAt:
    path: str
    run: ObjectId
    record: PathRecord
    side: str  # "output" (as the run left it) or "input" (as the run read it)


def resolve_path_at(repo: Repo, text: str) -> PathAt:
    """`PATH@RUN`: the path as RUN left it (an output, or a file inside an output tree),
    else as RUN read it. `PATH@` alone means the latest run that produced PATH."""
    path, _, ref = text.rpartition("@")
    path = path.strip("/")
    run_id = resolve_run(repo, ref) if ref else latest_producer(repo, path)
    run = load_run(repo, run_id)
    for side, records in (("output", run.outputs), ("input", run.inputs)):
        if path in records:
            return PathAt(path, run_id, records[path], side)
        for root, record in records.items():
            if record.kind == "tree" and path.startswith(root + "/"):
                inner = find_in_tree(repo, record.id, path[len(root) + 1 :])
                if inner is not None:
                    return PathAt(path, run_id, inner, side)
    raise UnknownRefError(f"run {short(run_id)} neither read nor wrote {path}")


def find_in_tree(repo: Repo, tree_id: bytes, rel: str) -> PathRecord | None:
    from mlvc.objects import Tree

    current = tree_id
    parts = rel.split("/")
    for depth, name in enumerate(parts):
        _, data = repo.store.get(current)
        entry = next((e for e in Tree.decode(data).entries if e.name == name), None)
        if entry is None:
            return None
        if depth == len(parts) - 1:
            return PathRecord(entry.id, entry.kind, entry.size, None, entry.executable)
        if entry.kind != "tree":
            return None
        current = entry.id
    return None


def flatten_tree(repo: Repo, tree_id: bytes, prefix: str = "") -> dict[str, PathRecord]:
    """Every file and symlink under a tree: relative path -> record (iterative)."""
    from mlvc.objects import Tree

    found: dict[str, PathRecord] = {}
    stack = [(tree_id, prefix)]
    while stack:
        oid, base = stack.pop()
        _, data = repo.store.get(oid)
        for e in Tree.decode(data).entries:
            path = f"{base}{e.name}"
            if e.kind == "tree":
                stack.append((e.id, f"{path}/"))
            else:
                found[path] = PathRecord(e.id, e.kind, e.size, None, e.executable)
    return found
