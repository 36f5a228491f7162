"""`mlvc diff`: two runs compared section by section, or two versions of a file or tree."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

from mlvc import codec
from mlvc.errors import CorruptObjectError, MlvcError
from mlvc.ids import Kind, ObjectId, short
from mlvc.lineage.pathdiff import PathChange, State, compare, paths_changed, unified
from mlvc.lineage.resolve import (
    DirAt,
    UnknownRefError,
    flatten_tree,
    load_run,
    previous_run,
    resolve_at,
    resolve_run,
)
from mlvc.objects import EntryKind, Manifest, PathRecord, Run, Tree
from mlvc.repo import Repo

_HEX = re.compile(r"[0-9a-fA-F]{4,64}")
# A commit is handed to git only when it is plainly a hex id: run objects are untrusted
# input, and `--output=...` in a commit field must never reach git's option parser.
_COMMIT = re.compile(r"[0-9a-f]{7,64}")
_CODE_FIELDS = ("git", "commit", "branch", "remote", "dirty", "patch", "error")
_MACHINE = ("host", "cpu_model", "cpu_count", "cpu_affinity", "memory_bytes", "gpus")
_USAGE = ("wall_seconds", "user_seconds", "system_seconds", "peak_rss_bytes")


class TargetMismatchError(MlvcError):
    pass


@dataclass(frozen=True, slots=True)
class Target:
    """One side of a diff: a run, or content named by `PATH@RUN` or by its id."""

    text: str
    kind: Literal["run", "dir"] | EntryKind
    id: ObjectId | None  # None for a directory written piecewise ("dir"): see `files`
    size: int | None = None
    path: str | None = None
    run: ObjectId | None = None
    files: Mapping[str, PathRecord] | None = None  # a "dir": the files the run wrote in it


@dataclass(frozen=True, slots=True)
class ValueChange:
    """One key compared. `old` is meaningless when added, `new` when removed: see `state`
    (a value may itself be None)."""

    key: str
    state: State
    old: Any = None
    new: Any = None


@dataclass(frozen=True, slots=True)
class MetricChange:
    key: str
    state: State
    old: Any = None
    new: Any = None
    delta: float | None = None
    percent: float | None = None  # of |old|; None when old is 0 or either is not a number


@dataclass(frozen=True, slots=True)
class CodeDiff:
    fields: tuple[ValueChange, ...] = ()  # git, commit, branch, remote, dirty, patch (id)
    scripts: tuple[ValueChange, ...] = ()
    stat: str | None = None  # `git diff --stat A B` when git knows both commits
    patch_diff: str | None = None  # with content: the two uncommitted patches, diffed


@dataclass(frozen=True, slots=True)
class EnvironmentDiff:
    fields: tuple[ValueChange, ...] = ()  # python.*, platform.*, cuda.*, variables.*
    packages: tuple[ValueChange, ...] = ()  # installed distribution -> version


@dataclass(frozen=True, slots=True)
class ResourcesDiff:
    machine: tuple[ValueChange, ...] = ()
    # Time and memory are measurements: they vary between two runs of the same thing, so
    # they never make runs differ, and are listed (old and new) only when something else does.
    usage: tuple[ValueChange, ...] = ()


@dataclass(frozen=True, slots=True)
class RunSections:
    command: tuple[ValueChange, ...]
    code: CodeDiff
    params: tuple[ValueChange, ...]
    inputs: tuple[PathChange, ...]
    outputs: tuple[PathChange, ...]
    metrics: tuple[MetricChange, ...]
    environment: EnvironmentDiff
    resources: ResourcesDiff

    @property
    def differ(self) -> bool:
        params = [p for p in self.params if p.state != "unchanged"]
        code, env = self.code, self.environment
        sections = (self.command, code.fields, code.scripts, params, self.inputs)
        return any(sections) or any(
            (self.outputs, self.metrics, env.fields, env.packages, self.resources.machine)
        )


@dataclass(frozen=True, slots=True)
class DiffResult:
    a: Target
    b: Target
    differ: bool
    runs: RunSections | None = None  # when comparing two runs
    content: PathChange | None = None  # when comparing two files or trees and they differ


def diff(
    repo: Repo,
    a: str,
    b: str | None,
    *,
    all_params: bool = False,
    content: bool = False,
    env: Mapping[str, str] | None = None,
) -> DiffResult:
    """Compare what `a` and `b` name. `env` is the environment git runs in for
    `git diff --stat` between the runs' commits; None skips git. Without `b`, `a` is a
    run compared with the run it superseded (see `previous_run`)."""
    old, new = (target(repo, a), target(repo, b)) if b is not None else _superseded(repo, a)
    if (old.kind == "run") != (new.kind == "run"):
        run, other = (old, new) if old.kind == "run" else (new, old)
        assert run.id is not None
        raise TargetMismatchError(
            f"cannot compare run {short(run.id)} with the {other.kind} {other.text}",
            hint="give two runs, or two PATH@RUN / content ids",
        )
    if old.kind == "run":
        assert old.id is not None and new.id is not None
        runs = diff_runs(
            repo, load_run(repo, old.id), load_run(repo, new.id), all_params, content, env
        )
        return DiffResult(old, new, runs.differ, runs=runs)
    path = old.path if old.path is not None and old.path == new.path else ""
    if "dir" in (old.kind, new.kind):
        change = _dirs(repo, path, old, new, content)
        return DiffResult(old, new, change is not None, content=change)
    # Two files named directly always get a text diff; trees only with `content`.
    text = content or "tree" not in (old.kind, new.kind)
    change = compare(repo, path, _record(old), _record(new), text, (old.text, new.text))
    return DiffResult(old, new, change is not None, content=change)


def target(repo: Repo, text: str) -> Target:
    """A run (id, prefix, tag, `latest~N`...), `PATH@RUN`, or a file or tree id."""
    before, at, _ = text.rpartition("@")
    if at and not _HEX.fullmatch(before):
        found = resolve_at(repo, text)
        if isinstance(found, DirAt):
            size = sum(r.size for r in found.files.values())
            return Target(text, "dir", None, size, found.path, found.run, found.files)
        rec = found.record
        return Target(text, rec.kind, rec.id, rec.size, found.path, found.run)
    try:
        return Target(text, "run", resolve_run(repo, text, suggest=False))
    except UnknownRefError as exc:
        problem = exc
    try:
        oid = repo.store.resolve(text)
    except MlvcError:
        resolve_run(repo, text)  # fails again, saying what is close
        raise problem from None
    kind, data = repo.store.get(oid)
    what = f"{kind.label} {short(oid)}"
    if kind is Kind.TREE:
        return Target(text, "tree", oid, Tree.decode(data, what).size)
    if kind is Kind.MANIFEST:
        return Target(text, "file", oid, Manifest.decode(data, what).size)
    if kind is Kind.CHUNK:
        return Target(text, "file", oid, len(data))
    raise problem


def _superseded(repo: Repo, text: str) -> tuple[Target, Target]:
    new = target(repo, text)
    if new.kind != "run" or new.id is None:
        raise TargetMismatchError(
            f"{text} is not a run: give what to compare it with",
            hint=f"'mlvc diff PATH@RUN {text}' compares two versions",
        )
    old = previous_run(repo, new.id)
    return Target(old.hex(), "run", old), new


def _record(side: Target) -> PathRecord:
    assert side.kind not in ("run", "dir") and side.id is not None
    return PathRecord(side.id, cast(EntryKind, side.kind), side.size or 0)


def _dirs(repo: Repo, path: str, old: Target, new: Target, content: bool) -> PathChange | None:
    """A directory written piecewise against another or a tree: file by file."""
    prefix = f"{path}/" if path else ""
    sides = []
    for side in (old, new):
        if side.kind == "file" or side.kind == "symlink":
            raise TargetMismatchError(
                f"cannot compare the {side.kind} {side.text} with a directory",
                hint="give two directories, or two files",
            )
        files = side.files if side.files is not None else flatten_tree(repo, _record(side).id)
        sides.append({prefix + rel: rec for rel, rec in files.items()})
    found = paths_changed(repo, sides[0], sides[1], content)
    return PathChange(path, "changed", None, None, found) if found else None


def diff_runs(
    repo: Repo,
    old: Run,
    new: Run,
    all_params: bool = False,
    content: bool = False,
    env: Mapping[str, str] | None = None,
) -> RunSections:
    sections = RunSections(
        command=changes(_command(old), _command(new)),
        code=_code(repo, old.code, new.code, content, env),
        params=changes(old.params, new.params, keep=all_params),
        inputs=paths_changed(repo, old.inputs, new.inputs, content),
        outputs=paths_changed(repo, old.outputs, new.outputs, content),
        metrics=_metrics(old.metrics, new.metrics),
        environment=_environment(repo, old.environment, new.environment),
        resources=ResourcesDiff(
            changes(_pick(old.resources, _MACHINE), _pick(new.resources, _MACHINE))
        ),
    )
    if not sections.differ:
        return sections
    usage = changes(_pick(old.resources, _USAGE), _pick(new.resources, _USAGE), keep=True)
    return replace(sections, resources=replace(sections.resources, usage=usage))


def changes(
    old: Mapping[str, Any], new: Mapping[str, Any], keep: bool = False
) -> tuple[ValueChange, ...]:
    """Keys added, removed and changed, sorted; `keep` lists the unchanged ones too."""
    found = []
    for key in sorted(old.keys() | new.keys()):
        if key not in new:
            found.append(ValueChange(key, "removed", old[key], None))
        elif key not in old:
            found.append(ValueChange(key, "added", None, new[key]))
        elif not _same(old[key], new[key]):
            found.append(ValueChange(key, "changed", old[key], new[key]))
        elif keep:
            found.append(ValueChange(key, "unchanged", old[key], new[key]))
    return tuple(found)


def _same(a: Any, b: Any) -> bool:
    # Canonical bytes, not ==: 1 == True == 1.0 in Python, yet they are different values,
    # and NaN != NaN although nothing changed.
    return a is b or codec.encode(a) == codec.encode(b)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _pick(section: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {k: section[k] for k in keys if k in section}


def _command(run: Run) -> dict[str, Any]:
    return {
        "kind": run.kind,
        "argv": list(run.command),
        "cwd": run.cwd,
        "exit_code": run.exit_code,
        "status": run.status,
        "deleted": sorted(run.removed),
    }


def _code(
    repo: Repo,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    content: bool,
    env: Mapping[str, str] | None,
) -> CodeDiff:
    a, b = old.get("commit"), new.get("commit")
    stat = None
    if env is not None and isinstance(a, str) and isinstance(b, str) and a != b:
        stat = _git_stat(repo.root, a, b, env)
    patch_diff = None
    a_patch, b_patch = old.get("patch"), new.get("patch")
    if content and a_patch != b_patch:
        patch_diff = unified(repo, ("a/patch", "b/patch"), _id(a_patch), _id(b_patch))
    return CodeDiff(
        fields=changes(_pick(old, _CODE_FIELDS), _pick(new, _CODE_FIELDS)),
        scripts=changes(_map(old.get("scripts")), _map(new.get("scripts"))),
        stat=stat,
        patch_diff=patch_diff,
    )


def _id(value: Any) -> ObjectId | None:
    return ObjectId(value) if isinstance(value, bytes) else None


def _git_stat(root: Path, a: str, b: str, env: Mapping[str, str]) -> str | None:
    """`git diff --stat A B`, or None when git is missing or does not know a commit."""
    from mlvc.git import run_git

    if not (_COMMIT.fullmatch(a) and _COMMIT.fullmatch(b)):
        return None
    done = run_git(["diff", "--stat", "--no-color", "--no-ext-diff", a, b, "--"], root, env)
    if done is None or done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace").rstrip("\n") or None


def _metrics(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[MetricChange, ...]:
    found = []
    for c in changes(old, new):
        delta = percent = None
        if c.state == "changed" and _number(c.old) and _number(c.new):
            delta = _tidy(c.new - c.old)
            percent = _tidy(delta / abs(c.old) * 100) if c.old else None
        found.append(MetricChange(c.key, c.state, c.old, c.new, delta, percent))
    return tuple(found)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _tidy(value: Any) -> Any:
    """12 significant digits: 0.85 - 0.8 is 0.05, not 0.04999999999999993."""
    return float(f"{value:.12g}") if isinstance(value, float) else value


def _environment(repo: Repo, old: Mapping[str, Any], new: Mapping[str, Any]) -> EnvironmentDiff:
    a, b = old.get("distributions"), new.get("distributions")
    packages = () if a == b else changes(_distributions(repo, a), _distributions(repo, b))
    return EnvironmentDiff(changes(_facts(old), _facts(new)), packages)


def _facts(env: Mapping[str, Any]) -> dict[str, Any]:
    variables = env.get("variables")
    values = variables.get("values") if isinstance(variables, dict) else None
    nested = {
        "python": env.get("python"),
        "platform": env.get("platform"),
        "cuda": env.get("cuda"),
        "variables": values,
    }
    flat = _flatten(nested, "")
    # Credential files are known only by keyed fingerprint: "changed" is all a diff can say.
    for path, seen in _map(env.get("secret_files")).items():
        flat[f"secret_files.{path}"] = _map(seen).get("fingerprint")
    return flat


def _flatten(value: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            flat.update(_flatten(item, f"{prefix}{key}."))
        elif item is not None or prefix:
            flat[f"{prefix}{key}"] = item
    return flat


def _distributions(repo: Repo, oid: Any) -> dict[str, str]:
    """The stored `[[name, version], ...]` list as a map (empty when none was recorded)."""
    if not isinstance(oid, bytes):
        return {}
    what = f"distribution list {short(oid)}"
    rows = codec.decode(b"".join(repo.store.iter_file(oid)), what)
    if not isinstance(rows, list):
        raise CorruptObjectError(f"{what} is not a list")
    return {
        row[0]: row[1]
        for row in rows
        if isinstance(row, list) and len(row) == 2 and all(isinstance(v, str) for v in row)
    }
