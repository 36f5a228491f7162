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

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation, and the first compile() of a process costs ~10 M instructions of start-up
# for every command that imports this module.

import contextlib
import os
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, NamedTuple

from mlvc.ids import ObjectId, short
from mlvc.store.history import History, VersionRow
from mlvc.store.steps import StepFacts, StepKey, step_facts
from mlvc.store.worktree import vouched_ids

if TYPE_CHECKING:
    from mlvc.objects import Run
    from mlvc.repo import Repo
    from mlvc.store.statrows import StatRow


class Step(NamedTuple):
    """A step and its latest run. A NamedTuple, not a dataclass: a clean `status` builds
    these, and importing dataclasses costs it several milliseconds."""

    key: StepKey
    run_id: ObjectId  # the step's latest run
    started: str
    reasons: tuple[str, ...]  # empty: up to date
    upstream: frozenset[StepKey]  # the steps whose outputs this one read
    reads: tuple[tuple[StepKey, str], ...] = ()  # (producing step, path) of those inputs

    @property
    def stale(self) -> bool:
        return bool(self.reasons)


def steps(
    repo: "Repo", refreshed: "list[tuple[str, StatRow]] | None" = None
) -> dict[StepKey, Step]:
    """Every step, keyed by (command, cwd), with why it is stale. Answered from the index
    and the step memo (mlvc.store.steps): the object store is opened only for what they
    cannot tell (a run missing from the memo, a tree input no run wrote). The stat-cache
    rows of the files it had to hash are appended to `refreshed`, for the caller to save
    (so that the next check need not hash them again)."""
    history = History(repo.db)
    runs = history.command_runs()
    memo = step_facts(repo.dir, [run_id for run_id, _ in runs], lambda oid: _load(repo, oid))
    # A run of no command (crafted: `mlvc run` needs one) is no step, nor supersedes one.
    keys = {run_id: key for run_id, key in memo.keys.items() if key[0]}
    latest: dict[StepKey, tuple[ObjectId, str]] = {}
    for run_id, started in runs:  # newest first
        if run_id in keys and keys[run_id] not in latest:
            latest[keys[run_id]] = (run_id, started)
    facts = {run_id: memo.facts(run_id) for run_id, _ in latest.values()}
    outputs = {path for run_id, _ in latest.values() for path in facts[run_id].outputs}
    writers = history.newest_versions(sorted(outputs), written=True)
    latest = {
        key: (run_id, started)
        for key, (run_id, started) in latest.items()
        if not _superseded(run_id, facts[run_id], writers, keys)
    }
    owned = {_stem(word) for key in latest for word in key[0]} - {""}
    chosen = {run_id: facts[run_id] for run_id, _ in latest.values()}
    check = _Checker(repo, history, owned, keys, chosen)
    found: dict[StepKey, Step] = {}
    for key, (run_id, started) in latest.items():
        reasons, reads = check.inputs(run_id, latest)
        upstream = frozenset(step for step, _ in reads)
        found[key] = Step(key, run_id, started, tuple(reasons), upstream, tuple(reads))
    if refreshed is not None:
        refreshed += check.refreshed
    return _propagate(found)


def _load(repo: "Repo", run_id: bytes) -> "Run":
    from mlvc.lineage.resolve import load_run

    return load_run(repo, run_id)


def _superseded(
    run_id: ObjectId,
    facts: StepFacts,
    writers: dict[str, VersionRow],
    keys: dict[ObjectId, StepKey],
) -> bool:
    """Whether a later run of another command rewrote every output of this step's run
    (`python train.py lr=0.5` after `python train.py`): that one is the step now."""
    if not facts.outputs:
        return False
    runs = {writers[path].run if path in writers else None for path in facts.outputs}
    return all(w is not None and w != run_id and w in keys for w in runs)


def stale_steps(repo: "Repo", refreshed: "list[tuple[str, StatRow]] | None" = None) -> list[Step]:
    """The stale steps, upstream first (`refreshed`: as for `steps`)."""
    found = steps(repo, refreshed)
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
                found[key] = step._replace(reasons=(reason,))
                changed = True
    return found


def _stem(word: str) -> str:
    name = PurePosixPath(word).name
    stem, dot, _ = name.partition(".")
    return stem if dot and not word.startswith("-") else ""


class _Checker:
    """Compares runs' recorded inputs with the workspace and with later producers. What
    it needs of the index is fetched for all the steps at once: a few queries, not a few
    per input (a clean `status` pays for every one)."""

    def __init__(
        self,
        repo: "Repo",
        history: History,
        owned: set[str],
        keys: dict[ObjectId, StepKey],
        chosen: dict[ObjectId, StepFacts],
    ) -> None:
        self.repo = repo
        self.history = history
        self.owned = owned
        self._step_of = keys  # every successful command run's step
        self.facts = chosen
        self.refreshed: list[tuple[str, StatRow]] = []  # stat-cache rows of what was hashed
        self.inputs_of = history.inputs_of(list(chosen))
        read = {path for rows in self.inputs_of.values() for path, _, _ in rows}
        self.newest = history.newest_versions(sorted(read))
        wanted = {
            path: facts.kinds.get(path) == "symlink"
            for run_id, facts in chosen.items()
            for path, _, _ in self.inputs_of[run_id]
            if facts.kinds.get(path) != "tree"
        }
        wanted.update((path, False) for facts in chosen.values() for path in facts.scripts)
        self.current = self._currents(wanted)

    def inputs(
        self, run_id: ObjectId, latest: dict[StepKey, Any]
    ) -> tuple[list[str], list[tuple[StepKey, str]]]:
        """Why the run is out of date, and the (producing step, path) of its inputs."""
        facts = self.facts[run_id]
        mine = {_stem(word) for word in facts.command} - {""}
        reasons: list[str] = []
        reads: list[tuple[StepKey, str]] = []
        for path, oid, producer in self.inputs_of[run_id]:
            if producer is not None:
                step = self._step_of.get(ObjectId(producer))
                if step is not None and step in latest:
                    reads.append((step, path))
            kind = facts.kinds.get(path, "file")
            reason = self._again(path, oid, producer) or self._workspace(
                path, oid, kind, producer, facts, mine
            )
            if reason:
                reasons.append(reason)
        return reasons + self._code(facts), reads

    def _code(self, facts: StepFacts) -> list[str]:
        """The recorded scripts (code.scripts: path -> content id) that changed since."""
        changed = []
        for path, oid in sorted(facts.scripts.items()):
            current = self.current.get(path)
            if current != oid:
                changed.append(f"{path} {'deleted' if current is None else 'changed'}")
        return changed

    def _again(self, path: str, oid: bytes, producer: bytes | None) -> str | None:
        newest = self.newest.get(path)
        if newest is None or newest.run == producer:
            return None
        if producer is None or newest.id == oid or newest.kind == "removed":
            return None
        return f"{path}: produced again by run {short(newest.run)}"

    def _workspace(
        self,
        path: str,
        oid: bytes,
        kind: str,
        producer: bytes | None,
        facts: StepFacts,
        mine: set[str],
    ) -> str | None:
        if kind == "tree":
            return self._tree(path, oid, producer)
        current = self.current.get(path)
        if current == oid:
            return None
        if current is None:
            return f"{path} deleted"
        from mlvc import params

        if kind == "file" and os.path.splitext(path)[1].lower() in params.CONFIG_SUFFIXES:
            return self._params(path, facts, mine)
        return f"{path} changed"

    def _tree(self, path: str, oid: bytes, producer: bytes | None) -> str | None:
        files = {
            rel: entry
            for rel, entry in self._files(path, oid, producer).items()
            if entry[1] != "tree"
        }
        current = self._currents({rel: kind == "symlink" for rel, (_, kind) in files.items()})
        for rel, (entry_id, _) in sorted(files.items()):
            if current.get(rel) != entry_id:
                return f"{path}: {rel} changed"
        return None

    def _files(self, path: str, oid: bytes, producer: bytes | None) -> dict[str, tuple[bytes, str]]:
        """The files of the tree `oid` read at `path`: from the versions its producer
        wrote (index rows), else from the tree objects in the store."""
        if producer is not None:
            written = self.history.written_by(producer, path)
            if written.pop(path, None) == (oid, "tree") and written:
                return written
        from mlvc.lineage.resolve import flatten_tree

        flat = flatten_tree(self.repo, oid, f"{path}/")
        return {rel: (entry.id, entry.kind) for rel, entry in flat.items()}

    def _currents(self, paths: dict[str, bool]) -> dict[str, bytes]:
        """The workspace content's id of each path (value: whether it was a symlink),
        absent when gone: the stat cache's when it vouches for the file (a large input
        is not read again on every status), else hashed."""
        root = str(self.repo.root)
        stats: dict[str, os.stat_result] = {}
        for path in paths:
            with contextlib.suppress(OSError):
                stats[path] = os.lstat(os.path.join(root, path))
        found = vouched_ids(self.repo.db, stats)
        for path in stats.keys() - found.keys():
            from mlvc.workspace.scan import stat_of
            from mlvc.workspace.statcache import hashed_row

            hashed = hashed_row(os.path.join(root, path), stat_of(path, stats[path]))
            if hashed is not None:
                found[path] = hashed[0]
                self.refreshed.append((path, hashed[1]))
        return found

    def _params(self, path: str, facts: StepFacts, mine: set[str]) -> str | None:
        """The changed keys of a config file that concern this step (None: none do)."""
        from mlvc import params, secrets

        try:
            with open(self.repo.abspath(path), "rb") as handle:
                now = params.config_params(path, handle.read(params.MAX_CONFIG_BYTES + 1))
        except OSError:
            now = None
        if not now:
            return f"{path} changed"
        # As recorded (runinfo._params): the command line's overrides replace the file's
        # values (so a key it sets is no change), secret-looking keys are redacted.
        line = params.argv_params(list(facts.command))
        rules = secrets.patterns(*self.repo.config.secrets)
        now = secrets.redact_params(line.override(now), rules)
        sections = {key.split(".", 1)[0] for key in now}
        was = {
            k: v
            for k, v in facts.params.items()
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
