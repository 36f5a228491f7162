"""Reproductions and safety snapshots stay off the mainline: `latest`, `log`, `log PATH`
and `blame` mean the runs the user made, end to end through the `mlvc` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.conftest import Ran, Run, init_store

PYTHON = sys.executable


def _json(mlvc: Run, *args: str) -> Any:
    return json.loads(mlvc(args[0], "--json", *args[1:]).stdout)


def _latest(mlvc: Run) -> str:
    return str(_json(mlvc, "show", "latest")["id"])


def _run(mlvc: Run, script: str) -> str:
    return str(_json(mlvc, "run", "--", "sh", "-c", script)["run_id"])


def test_a_reproduction_does_not_take_over(ran_pipeline: Ran, mlvc: Run) -> None:
    runs = ran_pipeline.runs
    train, evaluate = runs["train"], runs["evaluate"]
    reproduced = _json(mlvc, "reproduce", train)
    assert reproduced["identical"], reproduced
    copy = reproduced["run_id"]
    assert _latest(mlvc) == evaluate
    # listed under what it reproduces, never on its own
    listed = _json(mlvc, "log")["runs"]
    assert copy not in [r["id"] for r in listed]
    entry = next(r for r in listed if r["id"] == train)
    assert [(r["id"], r["verdict"]) for r in entry["reproductions"]] == [(copy, "identical")]
    assert "Reproduced: identical" in mlvc("log").stdout
    # a path's versions and who wrote its content: the original
    versions = _json(mlvc, "log", "model/model.json")["versions"]
    assert [v["run"] for v in versions] == [train]
    assert _json(mlvc, "blame", "model/model.json")["target"]["producer"] == train
    assert _json(mlvc, "show", "latest:model/model.json")["id"] == train
    # reproducing `latest` twice reproduces the same run both times
    again = [_json(mlvc, "reproduce", "latest")["original"] for _ in range(2)]
    assert again == [evaluate, evaluate]
    # what read the model: the evaluate run, not its two reproductions
    read_by = _json(mlvc, "log", "model/model.json", "--consumers")["versions"][0]["consumers"]
    assert read_by == [evaluate]
    everything = [v["run"] for v in _json(mlvc, "log", "model/model.json", "--all")["versions"]]
    assert set(everything) == {train, copy}
    # a reproduction reproduced by id is linked to the original, and listed under it
    second = _json(mlvc, "reproduce", copy)["run_id"]
    assert _json(mlvc, "show", second)["reproduces"] == train
    entry = next(r for r in _json(mlvc, "log")["runs"] if r["id"] == train)
    assert [r["id"] for r in entry["reproductions"]] == [copy, second]


def test_a_safety_snapshot_does_not_take_over(workspace: Path, mlvc: Run) -> None:
    init_store(workspace)
    first = _run(mlvc, "mkdir -p out; echo 1 > out/a; echo 1 > out/b")
    second = _run(mlvc, "echo 2 > out/a; echo 2 > out/b")
    (workspace / "out/a").write_text("edited by hand\n")
    shown = mlvc("checkout", first)
    saved = _json(mlvc, "log", "--all")["runs"][0]
    assert saved["role"] == "safety" and saved["kind"] == "snapshot"
    assert f"mlvc checkout {saved['id'][:12]}" in shown.stdout
    assert "mlvc log --all" in shown.stdout
    assert saved["id"] not in [r["id"] for r in _json(mlvc, "log")["runs"]]
    assert _latest(mlvc) == second
    # `checkout latest` puts back the whole newest run, not the one file saved
    mlvc("checkout", "latest")
    assert (workspace / "out/a").read_text() == (workspace / "out/b").read_text() == "2\n"
    assert [v["run"] for v in _json(mlvc, "log", "out/a")["versions"]] == [second, first]
    # the edits come back from the snapshot, and blame credits no run with them
    mlvc("checkout", saved["id"])
    assert (workspace / "out/a").read_text() == "edited by hand\n"
    blamed = mlvc("blame", "out/a", check=False)
    assert blamed.returncode == 1 and "no recorded run produced" in blamed.stderr
    assert _json(mlvc, "show", "latest:out/a")["id"] == second
    mlvc("index", "rebuild")  # the roles come from the run objects: a rebuild agrees
    assert _latest(mlvc) == second
    assert saved["id"] not in [r["id"] for r in _json(mlvc, "log")["runs"]]


def test_add_compares_with_the_mainline_version_not_a_safety_snapshot(
    workspace: Path, mlvc: Run
) -> None:
    init_store(workspace)
    (workspace / "f.txt").write_text("one\n")
    mlvc("add", "f.txt")
    first = _latest(mlvc)
    (workspace / "f.txt").write_text("two\n")
    mlvc("add", "f.txt")
    (workspace / "f.txt").write_text("hand\n")
    mlvc("checkout", first)  # stores "hand" in a safety snapshot first
    (workspace / "f.txt").write_text("hand\n")
    added = _json(mlvc, "add", "f.txt")
    assert added["run_id"] is not None  # a new version of f.txt, not "unchanged"
    assert _latest(mlvc) == added["run_id"]
