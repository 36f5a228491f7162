"""`mlvc rerun [TARGET...]`: re-execute the stale steps a target needs, upstream first,
each as a normal `mlvc run` of its recorded command in its recorded cwd, with the
environment variables it recorded set as they were (as `reproduce` does).

Staleness is checked again before each step: a step whose upstream rerun wrote the
content it had read is up to date after all, and is skipped (unless forced).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from mlvc import secrets
from mlvc.capture.request import RunRequest
from mlvc.errors import MlvcError
from mlvc.ids import ObjectId, short
from mlvc.lineage.resolve import load_run, resolve_run
from mlvc.lineage.stale import Step, steps, upstream_first, upstream_of
from mlvc.porcelain.reproduce import recorded_environment
from mlvc.porcelain.run import run
from mlvc.repo import Repo
from mlvc.store.steps import StepKey


class UnknownStepError(MlvcError):
    pass


@dataclass(frozen=True)
class RerunRequest:
    targets: tuple[str, ...]  # output paths or runs; () for every step
    env: Mapping[str, str]
    dry_run: bool = False
    force: bool = False
    terminal: tuple[int, int] = (1, 2)


@dataclass(frozen=True)
class RerunStep:
    run: ObjectId  # the step's run before the rerun
    command: tuple[str, ...]
    cwd: str
    reasons: tuple[str, ...]
    new_run: ObjectId | None = None  # None: not executed (a dry run)
    exit_code: int | None = None


@dataclass(frozen=True)
class RerunResult:
    steps: tuple[RerunStep, ...]
    exit_code: int  # the failed step's, else 0


def rerun(
    repo: Repo, request: RerunRequest, starting: Callable[[RerunStep], None] | None = None
) -> RerunResult:
    """Re-execute what the targets need; `starting` is told of each step before it runs."""
    found = steps(repo)
    chosen = upstream_of(found, _targets(repo, found, request.targets))
    done: list[RerunStep] = []
    for key in upstream_first(found, chosen):
        if done and not request.dry_run:
            found = steps(repo)  # what the reruns so far wrote
        step = found[key]
        if not (step.stale or request.force):
            continue
        reasons = step.reasons or ("forced",)
        planned = RerunStep(step.run_id, key[0], key[1], reasons)
        if request.dry_run:
            done.append(planned)
            continue
        secrets.check_reproducible(short(step.run_id), key[0])
        if starting is not None:
            starting(planned)
        env = recorded_environment(load_run(repo, step.run_id), request.env)
        again = RunRequest(list(key[0]), repo.abspath(key[1]), env)
        result = run(repo, replace(again, terminal=request.terminal))
        done.append(
            RerunStep(step.run_id, key[0], key[1], reasons, result.run_id, result.exit_code)
        )
        if result.exit_code != 0:
            return RerunResult(tuple(done), result.exit_code)
    return RerunResult(tuple(done), 0)


def _targets(repo: Repo, found: dict[StepKey, Step], targets: tuple[str, ...]) -> set[StepKey]:
    """The steps named by output paths or runs (every step when none is named)."""
    if not targets:
        return set(found)
    by_run = {step.run_id: key for key, step in found.items()}
    chosen: set[StepKey] = set()
    for target in targets:
        writer = _writer(repo, target)
        run_id = writer if writer is not None else resolve_run(repo, target)
        key = by_run.get(run_id) or _step_of(repo, run_id, found)
        chosen.add(key)
    return chosen


def _writer(repo: Repo, target: str) -> ObjectId | None:
    """The newest run that wrote the path `target`, if it names a recorded path."""
    path = target.rstrip("/")
    history = repo.index.history
    if history.is_recorded(path):
        return history.latest_writer(path)
    return None


def _step_of(repo: Repo, run_id: ObjectId, found: dict[StepKey, Step]) -> StepKey:
    recorded = load_run(repo, run_id)
    key = (recorded.command, recorded.cwd)
    if recorded.kind != "run" or key not in found:
        raise UnknownStepError(
            f"{short(run_id)} is not a step: it is a snapshot or not a successful command run",
            hint="name an output path or a run of 'mlvc run'; 'mlvc log' lists them",
        )
    return key
