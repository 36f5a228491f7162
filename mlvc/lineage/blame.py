"""`mlvc blame`: the runs behind one exact content — its upstream provenance, and with
--lines or --keys the version of the path that introduced each line or set each key.

A target is a workspace path (its current bytes, hashed), `PATH@RUN`, or a content id.
Versions of a path are ordered by (start time, run id), as everywhere in lineage/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlvc.errors import MlvcError, PathNotFoundError
from mlvc.ids import Kind, ObjectId, short
from mlvc.lineage.graph import GraphResult, RunCache, RunInfo, run_info, upstream
from mlvc.lineage.resolve import resolve_path_at
from mlvc.repo import Repo
from mlvc.store.refs import Tags

MAX_TEXT_BYTES = 16 << 20
_HEX = re.compile(r"[0-9a-fA-F]{4,64}")


class ProducerNotFoundError(MlvcError):
    pass


class UnsupportedContentError(MlvcError):
    pass


@dataclass(frozen=True)
class Target:
    path: str | None  # workspace-relative; None for a run given by id
    id: ObjectId
    kind: str  # file, tree, symlink, or run
    size: int
    producer: ObjectId  # the run or snapshot that made this content (at this path)
    source: str  # "workspace", "run" (PATH@RUN) or "id"


@dataclass(frozen=True)
class BlameResult:
    target: Target
    graph: GraphResult


@dataclass(frozen=True)
class BlamedLine:
    number: int
    text: str
    run: ObjectId


@dataclass(frozen=True)
class LinesResult:
    target: Target
    versions: int  # versions of the path up to and including the target
    lines: tuple[BlamedLine, ...]
    runs: Mapping[ObjectId, RunInfo]  # every run a line is credited to


@dataclass(frozen=True)
class BlamedKey:
    key: str
    value: Any
    run: ObjectId


@dataclass(frozen=True)
class KeysResult:
    target: Target
    versions: int
    keys: tuple[BlamedKey, ...]
    runs: Mapping[ObjectId, RunInfo]


def blame(
    repo: Repo, text: str, cwd: Path, depth: int | None = None, runs: RunCache | None = None
) -> BlameResult:
    """The run that made the target and everything upstream of it, down to snapshots."""
    target = resolve_target(repo, text, cwd)
    return BlameResult(target, upstream(repo, [target.producer], depth, runs))


# -- targets --------------------------------------------------------------------------


def resolve_target(repo: Repo, text: str, cwd: Path) -> Target:
    local = cwd / text
    exists = os.path.lexists(local)
    if "@" in text and not exists:
        return _path_at(repo, text, cwd)
    if exists:
        rel = repo.relpath(Path(text), cwd)
        if local.is_dir() and not local.is_symlink():
            recorded = repo.index.history.is_recorded(rel)
            raise UnsupportedContentError(
                f"{rel or '.'} is a directory: blame a file in it",
                hint=f"'mlvc blame {text}@' blames its last recorded version" if recorded else None,
            )
        return _workspace(repo, text, local, rel)
    if _HEX.fullmatch(text):
        return _content(repo, text)
    raise PathNotFoundError(
        f"{text} does not exist", hint=f"'mlvc blame {text}@' blames its last recorded version"
    )


def _workspace(repo: Repo, text: str, local: Path, rel: str) -> Target:
    from mlvc.workspace.statcache import content_id

    link = local.is_symlink()
    oid, size = content_id(local, symlink=link)
    kind = "symlink" if link else "file"
    producer = _producer(repo, oid, rel)
    if producer is None:
        raise _unrecorded(repo, text, rel, oid)
    return Target(rel, oid, kind, size, producer, "workspace")


def _producer(repo: Repo, oid: bytes, path: str, until: bytes | None = None) -> ObjectId | None:
    """The latest run that wrote `oid` at `path` (started no later than run `until`)."""
    return repo.index.history.writer_of(oid, path, until)


def _unrecorded(repo: Repo, text: str, rel: str, oid: bytes) -> ProducerNotFoundError:
    history = repo.index.history
    last = history.newest_version_of(rel)
    if last is not None and last[2] != "removed":
        return ProducerNotFoundError(
            f"no recorded run produced the current content of {rel}: it is modified since its"
            f" last recorded version ({last[1]} {short(last[0])})",
            hint=f"'mlvc blame {text}@' blames the recorded version; 'mlvc add {text}' records"
            " this one",
        )
    readers = history.readers(rel, oid)
    read = ""
    if readers:
        read = f" (run {short(readers[0])} read it, but nothing recorded had made it)"
    return ProducerNotFoundError(
        f"no recorded run produced {rel}{read}",
        hint=f"record it with 'mlvc add {text}', or make it with 'mlvc run'",
    )


def _path_at(repo: Repo, text: str, cwd: Path) -> Target:
    path, _, ref = text.rpartition("@")
    rel = repo.relpath(Path(path), cwd)
    at = resolve_path_at(repo, f"{rel}@{ref}")
    record = at.record
    producer: ObjectId | None = at.run
    if at.side == "input":
        # A file inside an input directory carries no producer of its own: the latest
        # version of it recorded by the time the run started is the one the run read.
        producer = record.producer_run or _producer(repo, record.id, rel, until=at.run)
    if producer is None:
        raise ProducerNotFoundError(
            f"run {short(at.run)} read {rel}, and no recorded run had produced that content",
            hint=f"'mlvc show {short(at.run)}' lists what the run read",
        )
    return Target(rel, record.id, record.kind, record.size, producer, "run")


def _content(repo: Repo, text: str) -> Target:
    oid = repo.store.resolve(text)
    if repo.store.kind(oid) is Kind.RUN:
        return Target(None, oid, "run", 0, oid, "id")
    row = repo.index.history.newest_writer_of_content(oid)
    if row is None:
        raise ProducerNotFoundError(
            f"no recorded run produced content {short(oid)}",
            hint="it may be a chunk of a larger file, or data only read; see 'mlvc log'",
        )
    return Target(row.path, oid, row.kind, row.size, row.run, "id")


# -- versions of one path -------------------------------------------------------------


@dataclass(frozen=True)
class _Version:
    run: ObjectId
    id: bytes
    kind: str  # file, tree, symlink or removed
    size: int


def _history(repo: Repo, target: Target, option: str) -> list[_Version]:
    """The versions of the target's path, oldest first, ending with the target's own."""
    if target.path is None or target.kind != "file":
        what = "a run" if target.path is None else f"{target.path} (a {target.kind})"
        raise UnsupportedContentError(f"{option} needs a file, and {what} is not one")
    rows = repo.index.history.versions_oldest_first(target.path)
    versions = [_Version(r.run, r.id or b"", r.kind, r.size) for r in rows]
    ends = [i for i, v in enumerate(versions) if v.run == target.producer and v.id == target.id]
    if not ends:
        raise ProducerNotFoundError(
            f"run {short(target.producer)} recorded no version of {target.path}",
            hint="'mlvc index rebuild' refreshes the index from the packs",
        )
    return versions[: ends[-1] + 1]


def _versions(repo: Repo, text: str, cwd: Path, option: str) -> tuple[Target, list[_Version]]:
    """The target and the versions of its path, oldest first. A file no run produced (a
    git-tracked params file) has the versions the runs that read it saw, each credited
    to the first run that read it."""
    try:
        target = resolve_target(repo, text, cwd)
    except ProducerNotFoundError:
        found = _read_only(repo, text, cwd, option)
        if found is None:
            raise
        return found
    return target, _history(repo, target, option)


def _read_only(
    repo: Repo, text: str, cwd: Path, option: str
) -> tuple[Target, list[_Version]] | None:
    from mlvc.lineage.resolve import load_run

    path, at, ref = text.rpartition("@")
    local = cwd / text
    if at and not os.path.lexists(local):
        found = resolve_path_at(repo, f"{repo.relpath(Path(path), cwd)}@{ref}")
        rel, oid, until = found.path, found.record.id, found.run
    elif os.path.isfile(local):
        from mlvc.workspace.statcache import content_id

        rel, (oid, _), until = repo.relpath(Path(text), cwd), content_id(local, symlink=False), None
    else:
        return None
    history = repo.index.history
    if history.is_recorded(rel):
        return None  # some run wrote it: its versions are what runs wrote
    versions: list[_Version] = []
    for run_id, read in history.reads_oldest_first(rel):
        if not versions or versions[-1].id != read:
            size = load_run(repo, run_id).inputs[rel].size
            versions.append(_Version(run_id, read, "file", size))
        if run_id == until:
            break
    ends = [i for i, v in enumerate(versions) if v.id == oid]
    if not ends:
        if not versions:
            return None
        last = short(versions[-1].run)
        raise ProducerNotFoundError(
            f"no recorded run read the current content of {rel} (run {last} read another)",
            hint=f"'mlvc blame {option} {path or text}@{last}' blames the version it read",
        )
    mine = versions[ends[-1]]
    target = Target(rel, ObjectId(oid), "file", mine.size, mine.run, "run" if at else "workspace")
    return target, versions[: ends[-1] + 1]


def _read(repo: Repo, version: _Version, limit: int) -> bytes | None:
    """A version's bytes, or None when it is no file or is larger than `limit`."""
    if version.kind != "file" or version.size > limit:
        return None
    return b"".join(repo.store.iter_file(version.id))


def _infos(repo: Repo, oids: list[ObjectId]) -> dict[ObjectId, RunInfo]:
    cache = RunCache(repo)
    tags = Tags(repo.dir).pointing_at()
    return {oid: run_info(oid, cache.get(oid), tags) for oid in dict.fromkeys(oids)}


def blame_lines(repo: Repo, text: str, cwd: Path) -> LinesResult:
    """Each line of the target credited to the version that first introduced it, as git
    blame does: the differences from one version to the next (difflib opcodes) carry
    the credit of unchanged lines forward; every other line is the new version's."""
    from difflib import SequenceMatcher

    target, versions = _versions(repo, text, cwd, "--lines")
    data = _read(repo, versions[-1], MAX_TEXT_BYTES)
    if data is None or b"\0" in data:
        raise UnsupportedContentError(
            f"{target.path} is not a text file of at most {MAX_TEXT_BYTES >> 20} MiB",
            hint=f"'mlvc blame {text}' without --lines shows where it came from",
        )
    lines: list[str] = []
    credit: list[ObjectId] = []
    previous: bytes | None = None
    for version in versions:
        if version.id == previous:
            continue  # the same bytes again: every line keeps its credit
        previous = version.id
        content = data if version is versions[-1] else _read(repo, version, MAX_TEXT_BYTES)
        new = _split(content)
        moved = [version.run] * len(new)
        matcher = SequenceMatcher(None, lines, new, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                moved[j1:j2] = credit[i1:i2]
        lines, credit = new, moved
    pairs = enumerate(zip(lines, credit, strict=True), 1)
    blamed = tuple(BlamedLine(n, line, run) for n, (line, run) in pairs)
    return LinesResult(target, len(versions), blamed, _infos(repo, credit))


def _split(data: bytes | None) -> list[str]:
    """Lines without their newline; a binary or missing version has none."""
    if data is None or b"\0" in data:
        return []
    lines = data.decode("utf-8", errors="replace").split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def blame_keys(repo: Repo, text: str, cwd: Path) -> KeysResult:
    """Each key of a params or metrics file credited to the earliest version from which it
    held its current value without interruption (a removal or another value in between
    starts the count again)."""
    target, versions = _versions(repo, text, cwd, "--keys")
    assert target.path is not None
    parse = _parser(repo, target.path)
    current = parse(versions[-1])
    if not current:
        raise UnsupportedContentError(
            f"{target.path} has no keys: it is not a yaml, json or toml params or metrics file",
            hint=f"'mlvc blame {text} --lines' credits each line instead",
        )
    since = dict.fromkeys(current, len(versions) - 1)
    pending = set(current)
    for index in range(len(versions) - 2, -1, -1):
        if not pending:
            break
        values = parse(versions[index]) or {}
        for key in sorted(pending):
            if key in values and _same(values[key], current[key]):
                since[key] = index
            else:
                pending.discard(key)
    keys = tuple(BlamedKey(k, current[k], versions[since[k]].run) for k in sorted(current))
    return KeysResult(target, len(versions), keys, _infos(repo, [k.run for k in keys]))


def _parser(repo: Repo, path: str) -> Callable[[_Version], dict[str, Any] | None]:
    from mlvc.params import MAX_CONFIG_BYTES, config_params, is_metrics_file, metrics_from

    metrics = is_metrics_file(path)
    parsed: dict[bytes, dict[str, Any] | None] = {}

    def parse(version: _Version) -> dict[str, Any] | None:
        if version.id not in parsed:
            data = _read(repo, version, MAX_TEXT_BYTES if metrics else MAX_CONFIG_BYTES)
            if data is None:
                parsed[version.id] = None
            else:
                parsed[version.id] = (
                    metrics_from(path, data) if metrics else config_params(path, data)
                )
        return parsed[version.id]

    return parse


def _same(a: Any, b: Any) -> bool:
    """Equal and of one type (1, 1.0 and True are three values); NaN equals NaN."""
    return type(a) is type(b) and (a == b or (a != a and b != b))
