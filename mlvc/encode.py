"""The JSON of the read commands: what `--json` prints and `mlvc ui` serves, built here
once so the two can never differ (ids as hex, dataclasses as objects, sorted keys)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlvc.lineage.blame import BlameResult, KeysResult, LinesResult
    from mlvc.lineage.graph import GraphResult, RunNode
    from mlvc.lineage.pipeline import PipelineResult
    from mlvc.lineage.runs import RunsResult, TableRun
    from mlvc.porcelain.show import ShowResult
    from mlvc.porcelain.status import StatusResult


def plain(value: Any) -> Any:
    """JSON-ready: ids (bytes) become hex, tuples lists, dataclasses dicts."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if hasattr(value, "__fspath__"):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN and infinities are not JSON: "nan", "inf", "-inf"
    return value


def to_json(value: Any) -> str:
    """The text of every `--json` answer."""
    import json

    return json.dumps(plain(value), indent=2, sort_keys=True) + "\n"


def runs_json(runs: list[Any]) -> dict[str, Any]:
    """`mlvc log --json`."""
    return {"runs": runs}


def versions_json(path: str, versions: list[Any]) -> dict[str, Any]:
    """`mlvc log PATH --json`."""
    return {"path": path, "versions": versions}


def show_json(result: ShowResult) -> dict[str, Any]:
    """`mlvc show --json`: the run, or the version of a path and its run."""
    if result.version is not None:
        return {"version": result.version, "run": {"id": result.id, **result.run}}
    return {"id": result.id, **result.run}


def graph_json(result: GraphResult) -> dict[str, Any]:
    """`mlvc graph --format json`: the roots, and the runs and data between them."""
    from mlvc.lineage.graph import export

    return {"roots": result.roots, **plain(export(result))}


def blame_json(result: BlameResult) -> dict[str, Any]:
    """`mlvc blame --json`: the target and every run upstream of it."""
    return {"target": result.target, **upstream_json(result.graph)}


def blame_lines_json(result: LinesResult) -> dict[str, Any]:
    """`mlvc blame --lines --json`: each line of the file and the run it is credited to."""
    lines = [{"line": b.number, "text": b.text, "run": b.run} for b in result.lines]
    return _credited(result, "lines", lines)


def blame_keys_json(result: KeysResult) -> dict[str, Any]:
    """`mlvc blame --keys --json`: each key of the file and the run it is credited to."""
    keys = [{"key": k.key, "value": k.value, "run": k.run} for k in result.keys]
    return _credited(result, "keys", keys)


def _credited(
    result: LinesResult | KeysResult, field: str, items: list[dict[str, Any]]
) -> dict[str, Any]:
    """The target, how many versions it has, what of it is credited to which run, and
    those runs."""
    return {
        "target": result.target,
        "versions": result.versions,
        field: items,
        "runs": {oid.hex(): plain(info) for oid, info in result.runs.items()},
    }


def upstream_json(graph: GraphResult) -> dict[str, Any]:
    """The runs upstream of a target, each with its level and inputs."""
    return {
        "depth": graph.depth,
        "nodes": [_node_json(n) for n in graph.nodes],
        "edges": plain(graph.edges),
    }


def _node_json(node: RunNode) -> dict[str, Any]:
    value: dict[str, Any] = plain(node.info)
    value.update(
        level=node.level,
        expanded=node.expanded,
        input_count=node.input_count,
        external=plain(node.external),
    )
    return value


def status_json(result: StatusResult) -> dict[str, Any]:
    """`mlvc status --json`."""
    return {
        "clean": result.clean,
        "tracked": result.tracked,
        "changes": [{"path": c.path, "state": c.state} for c in result.changes],
        "skipped": result.skipped,
        "ignored": result.ignored,
        "stale": [stale_json(step) for step in result.stale],
    }


def stale_json(step: Any) -> dict[str, Any]:
    """A stale step: its latest run, command and reasons."""
    return {"run": step.run_id, "command": list(step.key[0]), "reasons": list(step.reasons)}


def pipeline_json(result: PipelineResult) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": step.id,
                "command": list(step.command),
                "cwd": step.cwd,
                "latest_run": step.latest_run.hex(),
                "stale": step.stale,
                "reasons": list(step.reasons),
            }
            for step in result.steps
        ],
        "edges": [
            {"from": edge.source, "to": edge.target, "paths": list(edge.paths)}
            for edge in result.edges
        ],
    }


def table_json(result: RunsResult) -> list[dict[str, Any]]:
    """`mlvc runs --json`: a list, a run an object."""
    return [_table_row(run) for run in result.runs]


def _table_row(run: TableRun) -> dict[str, Any]:
    """A run's JSON object: the table's columns, with the whole params and metrics."""
    return {
        "id": run.id,
        "started": run.started,
        "ended": run.ended,
        "command": run.command,
        "status": run.status,
        "exit_code": run.exit_code,
        "duration": run.duration,
        "owner": run.owner,
        "role": run.role,
        "tags": run.tags,
        "params": run.params,
        "metrics": run.metrics,
    }
