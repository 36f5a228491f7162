"""`mlvc rm PATH` and `mlvc rm --cached PATH`: stop tracking, history kept, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import Run, init_store


def _status(mlvc: Run) -> Any:
    return json.loads(mlvc("status", "--json").stdout)


def _setup(workspace: Path, mlvc: Run) -> None:
    init_store(workspace)
    (workspace / "data").mkdir()
    for name in ("a.csv", "b.csv"):
        (workspace / "data" / name).write_text(f"{name}\n")
    (workspace / "notes.txt").write_text("n\n")
    mlvc("add", "data", "notes.txt")


def test_rm_deletes_and_untracks_and_history_stays(workspace: Path, mlvc: Run) -> None:
    _setup(workspace, mlvc)
    removed = json.loads(mlvc("rm", "--json", "data").stdout)
    assert removed["untracked"] == ["data/a.csv", "data/b.csv"]
    assert sorted(removed["deleted"]) == ["data/a.csv", "data/b.csv"]
    assert not (workspace / "data").exists()
    found = _status(mlvc)
    assert found["clean"] and found["tracked"] == 1
    versions = json.loads(mlvc("log", "--json", "data").stdout)["versions"]
    assert len(versions) == 1  # still in history: checkout brings it back
    mlvc("checkout", "latest", "data")
    assert (workspace / "data/a.csv").read_text() == "a.csv\n"


def test_rm_cached_keeps_the_file(workspace: Path, mlvc: Run) -> None:
    _setup(workspace, mlvc)
    mlvc("rm", "--cached", "notes.txt")
    assert (workspace / "notes.txt").read_text() == "n\n"
    (workspace / "notes.txt").write_text("changed\n")
    assert _status(mlvc) == {
        "changes": [],
        "clean": True,
        "ignored": [],
        "skipped": [],
        "stale": [],
        "tracked": 2,
    }


def test_rm_refuses_to_lose_unstored_changes(workspace: Path, mlvc: Run) -> None:
    _setup(workspace, mlvc)
    (workspace / "data/a.csv").write_text("edited\n")
    refused = mlvc("rm", "data", check=False)
    assert refused.returncode == 1
    assert "data/a.csv has changes the store does not hold" in refused.stderr
    assert (workspace / "data/a.csv").read_text() == "edited\n"
    assert _status(mlvc)["tracked"] == 3  # nothing untracked either
    mlvc("rm", "--force", "data")
    assert not (workspace / "data").exists()


def test_rm_of_an_untracked_path_is_an_error(workspace: Path, mlvc: Run) -> None:
    _setup(workspace, mlvc)
    (workspace / "other.txt").write_text("x\n")
    refused = mlvc("rm", "other.txt", check=False)
    assert refused.returncode == 1 and "other.txt is not tracked" in refused.stderr
    assert (workspace / "other.txt").exists()
