"""Stale steps: the pipeline inferred from history, and which of its steps are out of date.

A step is a distinct recorded command and cwd; its latest successful `run` (never a
snapshot, reproduction or safety snapshot) stands for it. That run is stale when one of
its recorded inputs or scripts (code.scripts) no longer matches: the workspace holds other
content, a later mainline run wrote other content there, or the step that produced it is
stale itself.

A step whose every output a later run of another command rewrote is superseded by it, and
is no step any more (`python train.py lr=0.5` after `python train.py`).

A config file (params.yaml) counts by key, not by bytes: a key whose first section is
named after a step's script (`train.epochs` for `python train.py`, the DVC convention)
concerns that step only; any other key concerns every step that read the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from mlvc import params, secrets
from mlvc.ids import ObjectId, short
from mlvc.lineage.resolve import flatten_tree, load_run
from mlvc.lineage.stepcache import StepKey, step_keys
from mlvc.objects import PathRecord, Run
from mlvc.repo import Repo
from mlvc.workspace.scan import stat_of
from mlvc.workspace.statcache import content_id, is_clean


@dataclass(frozen=True)
class Step:
    key: StepKey
    run_id: ObjectId  # the step's latest run
    started: str
    reasons: tuple[str, ...]  # empty: up to date
    upstream: frozenset[StepKey]  # the steps whose outputs this one read

    @property
    def stale(self) -> bool:
        return bool(self.reasons)


def has_steps(repo: Repo) -> bool:
    """Whether any command run was recorded (cheap: one indexed query)."""
    return bool(repo.index.history.run_ids(limit=1, roles=("run",)))


def steps(repo: Repo) -> dict[StepKey, Step]:
    """Every step, keyed by (command, cwd), with why it is stale."""
    keys = step_keys(repo, repo.index.history.run_ids(roles=("run",)))
    newest: dict[StepKey, ObjectId] = {}
    for run_id, key in keys.items():  # newest first
        newest.setdefault(key, run_id)
    latest = {key: (run_id, load_run(repo, run_id)) for key, run_id in newest.items()}
    latest = {k: v for k, v in latest.items() if not _superseded(repo, *v, keys)}
    owned = {_stem(word) for key in latest for word in key[0]} - {""}
    check = _Checker(repo, owned, keys)
    found: dict[StepKey, Step] = {}
    for key, (run_id, run) in latest.items():
        reasons, upstream = check.inputs(run, latest)
        found[key] = Step(key, run_id, run.started, tuple(reasons), frozenset(upstream))
    return _propagate(found)


def _superseded(repo: Repo, run_id: ObjectId, run: Run, keys: dict[ObjectId, StepKey]) -> bool:
    """Whether a later run of another command rewrote every output of this step's run
    (`python train.py lr=0.5` after `python train.py`): that one is the step now."""
    if not run.outputs:
        return False
    history = repo.index.history
    writers = {history.latest_writer(path) for path in run.outputs}
    return all(w is not None and w != run_id and w in keys for w in writers)


def stale_steps(repo: Repo) -> list[Step]:
    """The stale steps, upstream first."""
    found = steps(repo)
    return [found[key] for key in upstream_first(found, set(found)) if found[key].stale]


def upstream_first(found: dict[StepKey, Step], chosen: set[StepKey]) -> list[StepKey]:
    """`chosen` ordered along the producer -> consumer edges (ties: oldest run first)."""
    ordered: list[StepKey] = []
    done: set[StepKey] = set()
    pending = sorted(chosen, key=lambda k: (found[k].started, found[k].run_id))
    while pending:
        ready = [k for k in pending if not (found[k].upstream & chosen) - done - {k}]
        step = ready[0] if ready else pending[0]  # a cycle: break it at the oldest
        ordered.append(step)
        done.add(step)
        pending.remove(step)
    return ordered


def upstream_of(found: dict[StepKey, Step], keys: set[StepKey]) -> set[StepKey]:
    """`keys` and every step they depend on, transitively."""
    closure: set[StepKey] = set()
    todo = list(keys)
    while todo:
        key = todo.pop()
        if key in closure or key not in found:
            continue
        closure.add(key)
        todo.extend(found[key].upstream)
    return closure


def _propagate(found: dict[StepKey, Step]) -> dict[StepKey, Step]:
    """A step that read the output of a stale step is stale too."""
    changed = True
    while changed:
        changed = False
        for key, step in found.items():
            if step.stale:
                continue
            stale_up = sorted(u for u in step.upstream if u in found and found[u].stale)
            if stale_up:
                up = found[stale_up[0]]
                reason = f"upstream step {' '.join(up.key[0])} (run {short(up.run_id)}) is stale"
                found[key] = Step(key, step.run_id, step.started, (reason,), step.upstream)
                changed = True
    return found


def _stem(word: str) -> str:
    name = PurePosixPath(word).name
    stem, dot, _ = name.partition(".")
    return stem if dot and not word.startswith("-") else ""


class _Checker:
    """Compares a run's recorded inputs with the workspace and with later producers."""

    def __init__(self, repo: Repo, owned: set[str], keys: dict[ObjectId, StepKey]) -> None:
        self.repo = repo
        self.owned = owned
        self._step_of = keys  # every successful command run's step
        self.rules = secrets.patterns(*repo.config.secrets)

    def inputs(
        self, run: Run, latest: dict[StepKey, tuple[ObjectId, Run]]
    ) -> tuple[list[str], set[StepKey]]:
        mine = {_stem(word) for word in run.command} - {""}
        reasons: list[str] = []
        upstream: set[StepKey] = set()
        for path, record in sorted(run.inputs.items()):
            if record.producer_run is not None:
                producer = self._step_of.get(record.producer_run)
                if producer is not None and producer in latest:
                    upstream.add(producer)
            reason = self._again(path, record) or self._workspace(path, record, run, mine)
            if reason:
                reasons.append(reason)
        return reasons + self._code(run), upstream

    def _code(self, run: Run) -> list[str]:
        """The recorded scripts (code.scripts: path -> content id) that changed since."""
        scripts = run.code.get("scripts")
        if not isinstance(scripts, dict):
            return []
        changed = []
        for path, oid in sorted(scripts.items()):
            if isinstance(path, str) and isinstance(oid, bytes):
                current = self._current(path, False)
                if current != oid:
                    changed.append(f"{path} {'deleted' if current is None else 'changed'}")
        return changed

    def _again(self, path: str, record: PathRecord) -> str | None:
        versions = self.repo.index.history.versions(path)
        if not versions or versions[0].run == record.producer_run:
            return None
        newest = versions[0]
        if record.producer_run is None or newest.id == record.id or newest.kind == "removed":
            return None
        return f"{path}: produced again by run {short(newest.run)}"

    def _workspace(self, path: str, record: PathRecord, run: Run, mine: set[str]) -> str | None:
        if record.kind == "tree":
            return self._tree(path, record)
        current = self._current(path, record.kind == "symlink")
        if current == record.id:
            return None
        if current is None:
            return f"{path} deleted"
        if record.kind == "file" and os.path.splitext(path)[1].lower() in params.CONFIG_SUFFIXES:
            return self._params(path, run, mine)
        return f"{path} changed"

    def _tree(self, path: str, record: PathRecord) -> str | None:
        for rel, entry in sorted(flatten_tree(self.repo, record.id, path).items()):
            if entry.kind != "tree" and self._current(rel, entry.kind == "symlink") != entry.id:
                return f"{path}: {rel} changed"
        return None

    def _current(self, path: str, symlink: bool) -> bytes | None:
        """The workspace content's id: the stat cache's when it vouches for the file (a
        large tracked input is not read again on every status), else hashed."""
        full = self.repo.abspath(path)
        try:
            st = os.lstat(full)
            row = self.repo.index.stat_rows([path]).get(path)
            if row is not None and is_clean(row, stat_of(path, st)):
                return row.file_id
            return content_id(full, symlink)[0]
        except OSError:
            return None

    def _params(self, path: str, run: Run, mine: set[str]) -> str | None:
        """The changed keys of a config file that concern this step (None: none do)."""
        try:
            with open(self.repo.abspath(path), "rb") as handle:
                now = params.config_params(path, handle.read(params.MAX_CONFIG_BYTES + 1))
        except OSError:
            now = None
        if not now:
            return f"{path} changed"
        # As recorded (runinfo._params): the command line's overrides replace the file's
        # values (so a key it sets is no change), secret-looking keys are redacted.
        line = params.argv_params(list(run.command))
        now = secrets.redact_params(line.override(now), self.rules)
        sections = {key.split(".", 1)[0] for key in now}
        was = {
            k: v
            for k, v in run.params.items()
            if k.split(".", 1)[0] in sections and k not in line.overrides
        }
        changed = [
            key
            for key in sorted(set(now) | set(was))
            if now.get(key) != was.get(key) and self._concerns(key, mine)
        ]
        if not changed:
            return None
        key = changed[0]
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        return f"{path}: {key} {_shown(was.get(key))} -> {_shown(now.get(key))}{more}"

    def _concerns(self, key: str, mine: set[str]) -> bool:
        section = key.split(".", 1)[0]
        return "." not in key or section not in self.owned or section in mine


def _shown(value: Any) -> str:
    return "(none)" if value is None else str(value)
