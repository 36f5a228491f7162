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


def resolve_run(repo: Repo, text: str, suggest: bool = True) -> ObjectId:
    """A run named by tag, `latest`, `latest~N`, `latest:PATH`, id or unique prefix.
    `suggest=False`: an unknown name's error has no "did you mean" (which compares it
    with every run id and recorded path): for callers that try the name as a path next."""
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
        raise _unknown(repo, text, suggest) from None
    except MlvcError as exc:
        if "is not an object id" in exc.message:
            raise _unknown(repo, text, suggest) from None
        raise
    kind = repo.store.kind(oid)
    if kind is not Kind.RUN:
        raise UnknownRefError(f"{text} names a {kind.label}, not a run")
    return oid


def _unknown(repo: Repo, text: str, suggest: bool) -> UnknownRefError:
    from mlvc.lineage.suggest import hint

    fallback = "see 'mlvc log' for run ids and 'mlvc tag' for tags"
    close = hint(repo, text, fallback) if suggest else fallback
    return UnknownRefError(f"no run, tag or object named '{text}'", hint=close)


def _nth_latest(repo: Repo, n: int, text: str) -> ObjectId:
    oid = repo.index.history.nth_latest(n)
    if oid is None:
        raise UnknownRefError(f"'{text}': there are not that many runs")
    return oid


def latest_producer(repo: Repo, path: str) -> ObjectId:
    oid = repo.index.history.latest_writer(path)
    if oid is None:
        from mlvc.lineage.suggest import hint

        fallback = "see 'mlvc log' for what was recorded"
        raise UnknownRefError(
            f"no recorded run produced {path}", hint=hint(repo, path, fallback, paths_only=True)
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
    found = resolve_at(repo, text)
    if isinstance(found, DirAt):
        raise UnknownRefError(
            f"run {short(found.run)} wrote {found.path} piecewise, never as a whole",
            hint=f"name a file in it: {found.path}/{min(found.files)}@{short(found.run)}",
        )
    return found


@dataclass(frozen=True)
class DirAt:
    """A directory written piecewise (Kedro's `model.pkl/<timestamp>/model.pkl`): the
    files a run wrote below it (else read), relative to it. No run recorded it whole."""

    path: str
    run: ObjectId
    files: dict[str, PathRecord]
    side: str


def resolve_at(repo: Repo, text: str) -> PathAt | DirAt:
    """`PATH@RUN` as `resolve_path_at`, or for a directory that RUN wrote only files
    under, those files. `DIR@` alone means the latest run that wrote in it."""
    path, _, ref = text.rpartition("@")
    path = path.strip("/")
    run_id = resolve_run(repo, ref) if ref else newest_writer(repo, path)
    run = load_run(repo, run_id)
    for side, records in (("output", run.outputs), ("input", run.inputs)):
        if path in records:
            return PathAt(path, run_id, records[path], side)
        for root, record in records.items():
            if record.kind == "tree" and path.startswith(root + "/"):
                inner = find_in_tree(repo, record.id, path[len(root) + 1 :])
                if inner is not None:
                    return PathAt(path, run_id, inner, side)
    for side, records in (("output", run.outputs), ("input", run.inputs)):
        files = _below(repo, records, path)
        if files:
            return DirAt(path, run_id, files, side)
    from mlvc.lineage.suggest import hint

    fallback = f"'mlvc show {short(run_id)}' lists what it read and wrote"
    raise UnknownRefError(
        f"run {short(run_id)} neither read nor wrote {path}",
        hint=hint(repo, path, fallback, paths_only=True),
    )


def _below(repo: Repo, records: dict[str, PathRecord], path: str) -> dict[str, PathRecord]:
    """Every file a run's records hold below the directory `path`, relative to it."""
    files: dict[str, PathRecord] = {}
    prefix = f"{path}/" if path else ""
    for root, record in records.items():
        if not root.startswith(prefix):
            continue
        rel = root[len(prefix) :]
        if record.kind == "tree":
            files.update(flatten_tree(repo, record.id, f"{rel}/"))
        else:
            files[rel] = record
    return files


def newest_writer(repo: Repo, path: str) -> ObjectId:
    """The latest run that wrote `path`, or (for a directory written piecewise, or
    recorded whole once and then piecewise) wrote a file below it, whichever is newer."""
    history = repo.index.history
    whole = history.latest_writer(path)
    piece = next((r.run for r in history.versions_under(path) if r.kind != "removed"), None)
    if piece is None:
        return latest_producer(repo, path)  # `whole`, or the error naming the path
    if whole is None or whole == piece:
        return piece
    return max(whole, piece, key=lambda oid: (load_run(repo, oid).started, oid))


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


def previous_run(repo: Repo, run_id: ObjectId) -> ObjectId:
    """The run `run_id` superseded: the newest earlier run of the same command, else the
    newest earlier one that wrote any of the same outputs. Only an ok mainline run of
    the same kind is superseded (never a reproduction or a safety snapshot). Read from
    the index in proportion to that command's runs and those outputs' versions, not to
    the history."""
    from mlvc import codec

    run = load_run(repo, run_id)
    history = repo.index.history
    if history.facts_complete():
        same = history.earlier_with_command(run_id, run.kind, codec.encode(list(run.command)))
    else:  # runs indexed before `run_facts`: their commands are in their objects only
        earlier = history.earlier_runs(run_id, run.kind)
        same = next((o for o in earlier if load_run(repo, o).command == run.command), None)
    if same is not None:
        return same
    # A version of one of the paths is no proof: it may be a file inside a tree output.
    outputs = run.outputs.keys()
    writers = history.earlier_writers(run_id, run.kind, list(outputs))
    overlap = next((o for o in writers if load_run(repo, o).outputs.keys() & outputs), None)
    if overlap is None:
        raise UnknownRefError(
            f"run {short(run_id)} superseded no earlier run: none ran its command or wrote"
            " its outputs",
            hint=f"give two runs: 'mlvc diff RUN {short(run_id)}'",
        )
    return overlap
