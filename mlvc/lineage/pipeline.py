"""The pipeline inferred from history (`mlvc graph --steps`): its steps, upstream first,
and the edges between them with the paths each carries.

Steps are those of mlvc.lineage.stale (a distinct recorded command and cwd, stood for by
its latest mainline run); an edge runs from step A to step B when B's latest run read a
path that a run of A wrote. A step reading what an earlier run of itself wrote has no
edge to itself: the pipeline is drawn without loops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from mlvc import codec
from mlvc.ids import ObjectId, file_id
from mlvc.lineage.stale import steps, upstream_first

if TYPE_CHECKING:
    from mlvc.repo import Repo
    from mlvc.store.steps import StepKey


class PipelineStep(NamedTuple):
    id: str  # stable: derived from the command and cwd
    command: tuple[str, ...]
    cwd: str
    latest_run: ObjectId
    stale: bool
    reasons: tuple[str, ...]


class PipelineEdge(NamedTuple):
    source: str  # the producing step's id
    target: str  # the consuming step's id
    paths: tuple[str, ...]


class PipelineResult(NamedTuple):
    steps: tuple[PipelineStep, ...]  # upstream first
    edges: tuple[PipelineEdge, ...]  # in the order of their consumers, then producers


def step_id(key: StepKey) -> str:
    """A short id for a step, the same in every run of `graph --steps`."""
    return file_id(codec.encode([list(key[0]), key[1]])).hex()[:12]


def pipeline(repo: Repo) -> PipelineResult:
    found = steps(repo)
    order = upstream_first(found, set(found))
    ids = {key: step_id(key) for key in order}
    listed = tuple(
        PipelineStep(
            ids[key], key[0], key[1], found[key].run_id, found[key].stale, found[key].reasons
        )
        for key in order
    )
    position = {key: n for n, key in enumerate(order)}
    edges: list[PipelineEdge] = []
    for key in order:
        carried: dict[StepKey, set[str]] = {}
        for producer, path in found[key].reads:
            if producer != key:
                carried.setdefault(producer, set()).add(path)
        edges += [
            PipelineEdge(ids[producer], ids[key], tuple(sorted(paths)))
            for producer, paths in sorted(carried.items(), key=lambda item: position[item[0]])
        ]
    return PipelineResult(listed, tuple(edges))
