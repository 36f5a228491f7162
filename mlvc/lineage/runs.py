"""`mlvc runs` (`mlvc log --table`): many runs side by side, one row each, with a column
per param that differs among them and per scalar metric; filtered and sorted.

The rows come from the index (`run_facts`, store/db.py) without decoding run objects;
only a run indexed before that table existed is read from its object.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlvc.errors import UnsafePathError
from mlvc.ids import ObjectId
from mlvc.lineage import where as filters
from mlvc.lineage.resolve import UnknownRefError, load_run, resolve_run
from mlvc.objects import MAINLINE_ROLES
from mlvc.repo import Repo
from mlvc.store.refs import Tags
from mlvc.store.runfacts import RunFacts, RunFilter

# The columns every row has, before the params and metrics ones.
FIXED = ("id", "started", "command", "status", "duration")
# Keys --where and --sort may also name, shown in --json only.
_OTHER = ("ended", "exit_code", "owner", "role")


@dataclass(frozen=True)
class RunsQuery:
    """Which runs a table lists and how. `targets`: runs, tags or recorded paths (the
    runs that wrote a path, else those that read it); none: every mainline run.
    `where`: `KEY OP VALUE` filters, all of which must hold. `command`: a substring of
    the command line. `sort`: a column key (default: newest first); `reverse` flips the
    order. `include_all`: also failed runs, reproductions and safety snapshots."""

    targets: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    command: str | None = None
    sort: str | None = None
    reverse: bool = False
    limit: int | None = None
    since: str | None = None
    owner: str | None = None
    include_all: bool = False


@dataclass(frozen=True)
class TableRun:
    id: ObjectId
    role: str
    started: str
    ended: str
    status: str
    exit_code: int | None
    owner: str
    command: list[str]
    duration: float | None  # seconds; None when a timestamp does not parse
    params: dict[str, Any]
    metrics: dict[str, Any]  # the scalar (numeric) ones
    tags: list[str]

    def value(self, key: str) -> tuple[Any, bool]:
        """The run's value for a column key, and whether it has one."""
        group, _, name = key.partition(".")
        section = self.params if group == "params" else self.metrics if group == "metrics" else None
        if section is not None:
            return (section[name], True) if name in section else (None, False)
        if key in FIXED or key in _OTHER:
            found = getattr(self, key)
            return (command_line(found) if key == "command" else found), found is not None
        return None, False


@dataclass(frozen=True)
class RunsResult:
    runs: list[TableRun]
    params: list[str]  # the params keys that differ among `runs`: a column each
    metrics: list[str]  # every scalar metric key of `runs`: a column each

    @property
    def columns(self) -> list[str]:
        return [
            *FIXED,
            *(f"params.{key}" for key in self.params),
            *(f"metrics.{key}" for key in self.metrics),
        ]


def runs(repo: Repo, query: RunsQuery, cwd: Path | None = None) -> RunsResult:
    history = repo.index.history
    which = RunFilter(
        query.since,
        query.owner,
        ok_only=not query.include_all,
        roles=None if query.include_all else MAINLINE_ROLES,
    )
    if query.targets:
        named, found = _target_runs(repo, query, cwd)
        # A run named on the command line is listed whatever its role or status.
        facts = history.run_facts(which, found) + history.run_facts(
            which._replace(ok_only=False, roles=None), named
        )
        unique = {f.id: f for f in facts}.values()
        facts = sorted(unique, key=lambda f: (f.started, f.id), reverse=True)
    else:
        plain = query.sort is None and not query.where and query.command is None
        limit = query.limit if plain and not query.reverse else None
        facts = history.run_facts(which, limit=limit)
    tags = Tags(repo.dir).pointing_at()
    rows = [_table_run(repo, f, tags.get(f.id, [])) for f in facts]
    known = _keys(rows)
    rows = _filtered(rows, query, known)
    rows = _sorted(rows, query, known)[: query.limit]
    return RunsResult(rows, differing_params(rows), metric_keys(rows))


def command_line(command: list[str]) -> str:
    import shlex

    return shlex.join(command)


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics that are one number each: a table cell each."""
    return {k: v for k, v in metrics.items() if isinstance(v, int | float)}


def differing_params(rows: list[TableRun]) -> list[str]:
    """Params keys whose value (or presence) is not the same in every row."""
    keys = sorted({key for row in rows for key in row.params})
    missing = object()
    return [key for key in keys if len({_param(row, key, missing) for row in rows}) > 1]


def _param(row: TableRun, key: str, missing: object) -> object:
    """A param's value, comparable (as text: a list is not hashable); `missing` if absent."""
    return filters.text(row.params[key]) if key in row.params else missing


def metric_keys(rows: list[TableRun]) -> list[str]:
    return sorted({key for row in rows for key in row.metrics})


def _target_runs(repo: Repo, query: RunsQuery, cwd: Path | None) -> tuple[list[bytes], list[bytes]]:
    """The runs the targets name: (runs and tags named, the runs of the paths named: a
    path's writers, else its readers)."""
    history = repo.index.history
    named: list[bytes] = []
    found: list[bytes] = []
    for target in query.targets:
        try:
            named.append(resolve_run(repo, target, suggest=False))
            continue
        except UnknownRefError:
            pass
        path = _relative(repo, target, cwd)
        versions = history.versions(path, query.include_all) + history.versions_under(path)
        writers = [version.run for version in versions]
        readers = [run for run, _ in history.reads_oldest_first(path)]
        if not writers and not readers:
            named.append(resolve_run(repo, target))  # fails again, saying what is close
        found += writers or readers
    return named, found


def _relative(repo: Repo, path: str, cwd: Path | None) -> str:
    if cwd is None:
        return path.strip("/")
    try:
        return repo.relpath(Path(path), cwd) or path.strip("/")
    except UnsafePathError:  # outside the workspace: no recorded path
        return path.strip("/")


def _table_run(repo: Repo, facts: RunFacts, tags: list[str]) -> TableRun:
    ended, exit_code, command = facts.ended, facts.exit_code, facts.command
    params, metrics = facts.params, facts.metrics
    if command is None or params is None or metrics is None:  # indexed before run_facts
        run = load_run(repo, facts.id)
        ended, exit_code, command = run.ended, run.exit_code, list(run.command)
        params, metrics = run.params, run.metrics
    return TableRun(
        facts.id,
        facts.role,
        facts.started,
        ended,
        facts.status,
        exit_code,
        facts.owner,
        command,
        _seconds(facts.started, ended),
        params,
        _scalar_metrics(metrics),
        tags,
    )


def _seconds(started: str, ended: str) -> float | None:
    try:
        delta = datetime.fromisoformat(ended) - datetime.fromisoformat(started)
    except ValueError:
        return None
    return round(delta.total_seconds(), 6)


def _filtered(rows: list[TableRun], query: RunsQuery, known: set[str]) -> list[TableRun]:
    if query.command is not None:
        rows = [row for row in rows if query.command in command_line(row.command)]
    for condition in [filters.parse(text) for text in query.where]:
        filters.check_key(condition.key, known, "--where")
        rows = [row for row in rows if condition.holds(*row.value(condition.key))]
    return rows


def _sorted(rows: list[TableRun], query: RunsQuery, known: set[str]) -> list[TableRun]:
    """Newest first (the index's order), or by the `sort` column: numbers, then text,
    then the runs without it, which stay last whichever the direction."""
    if query.sort is None:
        return rows[::-1] if query.reverse else rows
    filters.check_key(query.sort, known, "--sort")
    values = [(row, *row.value(query.sort)) for row in rows]
    having = [(filters.sort_key(value), row) for row, value, present in values if present]
    having.sort(key=lambda pair: pair[0], reverse=query.reverse)
    return [row for _, row in having] + [row for row, _, present in values if not present]


def _keys(rows: list[TableRun]) -> set[str]:
    """Every column key some run has: what --where and --sort may name."""
    params: set[str] = set()
    metrics: set[str] = set()
    for row in rows:
        params.update(row.params)
        metrics.update(row.metrics)
    named = (*FIXED, *_OTHER)
    return {*named, *(f"params.{k}" for k in params), *(f"metrics.{k}" for k in metrics)}
