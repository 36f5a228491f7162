"""Stale steps in `mlvc status` and `mlvc rerun`, end to end on the example pipeline."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.conftest import STAGES, Ran, Run, Template, runner

PYTHON = sys.executable
OUTPUTS = ("model/model.json", "train_metrics.json", "metrics.json")


def _set_param(ws: Path, old: str, new: str) -> None:
    params = ws / "params.yaml"
    text = params.read_text()
    assert old in text
    params.write_text(text.replace(old, new))


def _stale(mlvc: Run) -> list[dict[str, Any]]:
    stale: list[dict[str, Any]] = json.loads(mlvc("status", "--json").stdout)["stale"]
    return stale


def _rerun(mlvc: Run, *args: str, check: bool = True) -> tuple[int, dict[str, Any]]:
    result = mlvc("rerun", "--json", *args, check=check)
    return result.returncode, json.loads(result.stdout)


def _stages(runs: dict[str, str], ids: list[str]) -> list[str]:
    named = {run_id: stage for stage, run_id in runs.items()}
    return [named[run_id] for run_id in ids]


def test_a_train_param_makes_train_and_evaluate_stale_and_rerun_matches_a_manual_rerun(
    ran_pipeline: Ran, ran_template: Template, mlvc: Run, tmp_path: Path
) -> None:
    ws, runs = ran_pipeline
    assert _stale(mlvc) == []
    _set_param(ws, "epochs: 40", "epochs: 80")

    stale = _stale(mlvc)
    assert _stages(runs, [s["run"] for s in stale]) == ["train", "evaluate"]
    assert stale[0]["command"] == [PYTHON, "train.py"]
    assert stale[0]["reasons"] == ["params.yaml: train.epochs 40 -> 80"]
    assert stale[1]["reasons"] and "train.py" in stale[1]["reasons"][0]

    code, result = _rerun(mlvc)
    assert code == 0
    assert _stages(runs, [s["run"] for s in result["steps"]]) == ["train", "evaluate"]
    assert all(s["exit_code"] == 0 and s["new_run"] for s in result["steps"])

    manual = ran_template.copy(tmp_path / "manual")
    by_hand = runner(manual, dict(os.environ))
    _set_param(manual, "epochs: 40", "epochs: 80")
    by_hand("run", "--", PYTHON, "train.py")
    by_hand("run", "--", PYTHON, "evaluate.py")
    for rel in OUTPUTS:
        assert (ws / rel).read_bytes() == (manual / rel).read_bytes(), rel

    assert _stale(mlvc) == []
    history = mlvc("log", "--oneline").stdout
    code, again = _rerun(mlvc)
    assert (code, again["steps"]) == (0, [])
    assert "nothing to rerun" in mlvc("rerun").stdout
    assert mlvc("log", "--oneline").stdout == history  # no run recorded by either


def test_a_changed_data_file_makes_every_step_below_it_stale(ran_pipeline: Ran, mlvc: Run) -> None:
    ws, runs = ran_pipeline
    points = ws / "data/raw/points.csv"
    points.write_text(points.read_text() + "0.5,0.5,1\n")
    stale = _stale(mlvc)
    assert _stages(runs, [s["run"] for s in stale]) == list(STAGES)
    assert stale[0]["reasons"] == ["data/raw/points.csv changed"]


def test_a_step_run_again_by_hand_makes_its_consumers_stale(ran_pipeline: Ran, mlvc: Run) -> None:
    ws, runs = ran_pipeline
    _set_param(ws, "interactions: true", "interactions: false")
    again = json.loads(mlvc("run", "--json", "--", PYTHON, "featurize.py").stdout)["run_id"]
    stale = _stale(mlvc)
    assert _stages(runs, [s["run"] for s in stale]) == ["train", "evaluate"]
    assert f"data/features/train.json: produced again by run {again[:12]}" in stale[0]["reasons"]


def test_a_target_reruns_only_what_it_needs(ran_pipeline: Ran, mlvc: Run) -> None:
    ws, runs = ran_pipeline
    _set_param(ws, "seed: 7", "seed: 8")
    code, dry = _rerun(mlvc, "--dry-run", "data/features")
    assert code == 0 and all(s["new_run"] is None for s in dry["steps"])
    assert _stages(runs, [s["run"] for s in dry["steps"]]) == ["prepare", "featurize"]
    assert len(_stale(mlvc)) == 4  # a dry run runs nothing

    code, result = _rerun(mlvc, "data/features")
    assert _stages(runs, [s["run"] for s in result["steps"]]) == ["prepare", "featurize"]
    assert _stages(runs, [s["run"] for s in _stale(mlvc)]) == ["train", "evaluate"]


def test_force_reruns_up_to_date_steps_of_a_run_target(ran_pipeline: Ran, mlvc: Run) -> None:
    _, runs = ran_pipeline
    code, result = _rerun(mlvc, "--force", runs["featurize"])
    assert code == 0
    assert _stages(runs, [s["run"] for s in result["steps"]]) == ["prepare", "featurize"]
    assert all(s["reasons"] == ["forced"] for s in result["steps"])
    assert _stale(mlvc) == []


def test_a_failed_step_stops_the_chain_with_its_exit_code(ran_pipeline: Ran, mlvc: Run) -> None:
    ws, runs = ran_pipeline
    (ws / "train.py").write_text("raise SystemExit(5)\n")
    code, result = _rerun(mlvc, check=False)
    assert code == 5
    assert _stages(runs, [s["run"] for s in result["steps"]]) == ["train"]
    assert result["steps"][0]["exit_code"] == 5


def test_an_unknown_target_is_an_error(ran_pipeline: Ran, mlvc: Run) -> None:
    result = mlvc("rerun", "no/such/output", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error:")


def test_status_without_runs_lists_no_stale_step(pipeline: Path, mlvc: Run) -> None:
    assert _stale(mlvc) == []


def test_a_damaged_step_memo_is_rebuilt(ran_pipeline: Ran, mlvc: Run) -> None:
    ws, runs = ran_pipeline
    _set_param(ws, "epochs: 40", "epochs: 80")
    first = _stale(mlvc)
    memo = ws / ".mlvc" / "steps.msgpack"
    assert memo.is_file()
    memo.write_bytes(b"\xc1 not msgpack")
    assert _stale(mlvc) == first
    assert _stages(runs, [s["run"] for s in first]) == ["train", "evaluate"]


def test_a_param_the_command_line_overrides_is_no_change(ran_pipeline: Ran, mlvc: Run) -> None:
    ws, _ = ran_pipeline
    mlvc("run", "--", PYTHON, "train.py", "train.epochs=80")
    mlvc("run", "--", PYTHON, "evaluate.py")
    _set_param(ws, "epochs: 40", "epochs: 60")
    # `python train.py` is superseded (the override run rewrote all it wrote), and the
    # override run's epochs are its command line's, whatever the file says.
    assert _stale(mlvc) == []
    _set_param(ws, "l2: 0.001", "l2: 0.01")
    stale = _stale(mlvc)
    assert [s["command"] for s in stale] == [
        [PYTHON, "train.py", "train.epochs=80"],
        [PYTHON, "evaluate.py"],
    ]
    assert stale[0]["reasons"] == ["params.yaml: train.l2 0.001 -> 0.01"]


def test_a_directory_input_is_compared_file_by_file(ran_pipeline: Ran, mlvc: Run) -> None:
    ws, _ = ran_pipeline
    mlvc("run", "-i", "data/raw", "--", PYTHON, "prepare.py")  # data/raw: a tree input
    assert _stale(mlvc) == []
    points = ws / "data/raw/points.csv"
    points.write_text(points.read_text() + "0.5,0.5,1\n")
    stale = _stale(mlvc)
    assert stale[0]["command"] == [PYTHON, "prepare.py"]
    assert "data/raw: data/raw/points.csv changed" in stale[0]["reasons"]


def test_all_reruns_every_stale_step_and_takes_no_target(ran_pipeline: Ran, mlvc: Run) -> None:
    ws, runs = ran_pipeline
    _set_param(ws, "seed: 7", "seed: 8")
    code, dry = _rerun(mlvc, "--all", "--dry-run")
    assert _stages(runs, [s["run"] for s in dry["steps"]]) == list(STAGES)
    _, plain = _rerun(mlvc, "--dry-run")  # no target means --all
    assert plain == dry
    refused = mlvc("rerun", "--all", "data/features", check=False)
    assert refused.returncode == 1 and refused.stderr.startswith("error:")
    code, result = _rerun(mlvc, "--all")
    assert code == 0 and _stages(runs, [s["run"] for s in result["steps"]]) == list(STAGES)
    assert _stale(mlvc) == []
    assert _rerun(mlvc, "--all") == (0, {"exit_code": 0, "steps": []})


def test_several_targets_rerun_the_union_of_what_they_need(ran_pipeline: Ran, mlvc: Run) -> None:
    ws, runs = ran_pipeline
    _set_param(ws, "seed: 7", "seed: 8")
    code, dry = _rerun(mlvc, "--dry-run", "model/model.json", "data/features")
    assert code == 0
    assert _stages(runs, [s["run"] for s in dry["steps"]]) == ["prepare", "featurize", "train"]
