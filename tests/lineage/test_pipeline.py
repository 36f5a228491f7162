"""`mlvc graph --steps`: the pipeline inferred from history, end to end on the example."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import PYTHON, Ran, Run, init_store


def _pipeline(mlvc: Run) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(mlvc("graph", "--steps", "--json").stdout)
    return shown


def test_steps_upstream_first_with_edges_and_stale_marks(ran_pipeline: Ran, mlvc: Run) -> None:
    ws, runs = ran_pipeline
    params = ws / "params.yaml"
    params.write_text(params.read_text().replace("epochs: 40", "epochs: 80"))
    shown = _pipeline(mlvc)
    steps = shown["steps"]
    stages = ["prepare", "featurize", "train", "evaluate"]
    assert [s["command"] for s in steps] == [[PYTHON, f"{stage}.py"] for stage in stages]
    assert [s["latest_run"] for s in steps] == [runs[stage] for stage in stages]
    assert [s["stale"] for s in steps] == [False, False, True, True]
    assert steps[2]["reasons"] == ["params.yaml: train.epochs 40 -> 80"]
    assert all(s["cwd"] == "." for s in steps)
    name = {s["id"]: stage for s, stage in zip(steps, stages, strict=True)}
    edges = {(name[e["from"]], name[e["to"]]): e["paths"] for e in shown["edges"]}
    assert edges == {
        ("prepare", "featurize"): ["data/prepared/test.csv", "data/prepared/train.csv"],
        ("featurize", "train"): ["data/features/train.json"],
        ("featurize", "evaluate"): ["data/features/test.json"],
        ("train", "evaluate"): ["model/model.json"],
    }
    assert [s["id"] for s in _pipeline(mlvc)["steps"]] == [s["id"] for s in steps]  # stable

    text = mlvc("graph", "--steps").stdout
    assert text.startswith("4 steps, 2 stale")
    order = [text.index(f"{stage}.py  run {runs[stage][:12]}") for stage in stages]
    assert order == sorted(order)
    assert "stale: params.yaml: train.epochs 40 -> 80" in text
    assert "<- model/model.json from" in text
    assert "mlvc rerun --all" in text


def test_user_text_in_a_step_is_shown_as_text(ran_pipeline: Ran, mlvc: Run) -> None:
    mlvc("run", "--", PYTHON, "-c", "pass", "[bold]not markup[/bold]")
    text = mlvc("graph", "--steps").stdout
    assert "[bold]not markup[/bold]" in text


def test_steps_take_no_target_and_only_tree_or_json(ran_pipeline: Ran, mlvc: Run) -> None:
    for args in (["--steps", "metrics.json"], ["--steps", "--format", "dot"]):
        result = mlvc("graph", *args, check=False)
        assert result.returncode == 1
        assert result.stderr.startswith("error:")


def test_no_steps_yet(workspace: Any, mlvc: Run) -> None:
    init_store(workspace)
    assert "no steps recorded yet" in mlvc("graph", "--steps").stdout
    assert _pipeline(mlvc) == {"steps": [], "edges": []}
