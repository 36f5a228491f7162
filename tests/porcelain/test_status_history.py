"""`mlvc status` after checkouts: a file a run recorded is never "new: use mlvc add", and
a tracked file that became ignored is named with how to stop tracking it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Run, init_store


def _status(mlvc: Run) -> Any:
    return json.loads(mlvc("status", "--json").stdout)


def _run(mlvc: Run, script: str) -> str:
    return str(json.loads(mlvc("run", "--json", "--", "sh", "-c", script).stdout)["run_id"])


def test_status_after_checkout_of_an_older_run(workspace: Path, mlvc: Run) -> None:
    init_store(workspace)
    first = _run(mlvc, "mkdir -p out; echo 1 > out/a")
    second = _run(mlvc, "echo 2 > out/a; echo 2 > out/b")
    mlvc("checkout", first)
    # out/b is what the second run wrote there: recorded, not new
    assert _status(mlvc)["changes"] == [{"path": "out/b", "state": "recorded"}]
    shown = mlvc("status").stdout
    assert "recorded: out/b" in shown and "mlvc checkout --clean" in shown
    assert "new:" not in shown
    (workspace / "out/b").write_text("by hand\n")  # content no run recorded: new
    assert _status(mlvc)["changes"] == [{"path": "out/b", "state": "new"}]
    mlvc("checkout", "--clean", first)
    assert _status(mlvc)["clean"]
    mlvc("checkout", second)
    assert _status(mlvc)["clean"]


def test_a_tracked_file_that_became_ignored_says_how_to_untrack_it(
    workspace: Path, mlvc: Run
) -> None:
    init_store(workspace)
    _run(mlvc, "mkdir -p logs; echo start > logs/train.log; echo m > model.txt")
    (workspace / ".mlvcignore").write_text("logs/\n")
    (workspace / "logs/train.log").write_text("more\n")
    found = _status(mlvc)
    assert found["changes"] == [{"path": "logs/train.log", "state": "modified"}]
    assert found["ignored"] == ["logs/train.log"]
    assert "'mlvc rm --cached logs/train.log' stops tracking it" in mlvc("status").stdout
    mlvc("rm", "--cached", "logs/train.log")
    assert _status(mlvc)["clean"]
    assert (workspace / "logs/train.log").read_text() == "more\n"
