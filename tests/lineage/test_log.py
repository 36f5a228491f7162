"""`mlvc log`, `mlvc tag` and `mlvc index rebuild` on real runs of the example pipeline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import STAGES, Run, Template, build_pipeline, copy_history, train_again


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, ran_template: Template
) -> tuple[Path, dict[str, list[str]]]:
    """The pipeline run twice, `train.learning_rate` changed in between: built once."""
    built = build_pipeline(tmp_path_factory, ran_template, tag=False)
    ids = {stage: [built.runs[stage]] for stage in STAGES}
    train_again(built, ids)
    return built.workspace, ids


@pytest.fixture
def history(template: tuple[Path, dict[str, list[str]]], workspace: Path) -> dict[str, list[str]]:
    return copy_history(template, workspace)


def test_log_lists_runs_newest_first(mlvc: Run, history: dict[str, list[str]]) -> None:
    runs = json.loads(mlvc("log", "--json").stdout)["runs"]
    assert [r["id"] for r in runs[:2]] == [history["evaluate"][1], history["train"][1]]
    assert runs[-1]["kind"] == "snapshot"
    assert runs[0]["metrics"]["accuracy"] > 0.5
    assert len(json.loads(mlvc("log", "-n", "3", "--json").stdout)["runs"]) == 3
    oneline = mlvc("log", "--oneline").stdout.splitlines()
    assert oneline[0].startswith(history["evaluate"][1][:12])


def test_log_skip_pages_the_runs(mlvc: Run, history: dict[str, list[str]]) -> None:
    """`--skip N -n M`: the M runs after the N newest (a page); a path's versions alike."""
    every = [r["id"] for r in json.loads(mlvc("log", "--json").stdout)["runs"]]
    page = json.loads(mlvc("log", "--json", "-n", "2", "--skip", "1").stdout)["runs"]
    assert [r["id"] for r in page] == every[1:3]
    rest = json.loads(mlvc("log", "--skip", "5", "--json").stdout)["runs"]
    assert [r["id"] for r in rest] == every[5:]
    versions = json.loads(mlvc("log", "model", "--skip", "1", "--json").stdout)["versions"]
    assert [v["run"] for v in versions] == [history["train"][0]]
    assert mlvc("log", "--skip", "-1", check=False).returncode == 2


def test_log_filters(mlvc: Run, workspace: Path, history: dict[str, list[str]]) -> None:
    assert json.loads(mlvc("log", "--owner", "nobody-else", "--json").stdout)["runs"] == []
    failed = mlvc("run", "--", "sh", "-c", "exit 3", check=False)
    assert failed.returncode == 3
    plain = {r["status"] for r in json.loads(mlvc("log", "--json").stdout)["runs"]}
    every = {r["status"] for r in json.loads(mlvc("log", "--all", "--json").stdout)["runs"]}
    assert plain == {"ok"} and every == {"ok", "failed"}
    future = json.loads(mlvc("log", "--since", "2999-01-01", "--json").stdout)["runs"]
    assert future == []


def test_log_of_a_path_shows_each_version(mlvc: Run, history: dict[str, list[str]]) -> None:
    versions = json.loads(mlvc("log", "model", "--consumers", "--json").stdout)["versions"]
    assert [v["run"] for v in versions] == history["train"][::-1]
    assert versions[0]["modified"] == ["model.json"]
    assert versions[0]["consumers"] == [history["evaluate"][1]]
    assert versions[1]["consumers"] == [history["evaluate"][0]]
    assert versions[0]["commit"] is not None


def test_a_deleted_path_keeps_its_log(
    mlvc: Run, workspace: Path, history: dict[str, list[str]]
) -> None:
    shutil.rmtree(workspace / "model")
    versions = json.loads(mlvc("log", "model", "--json").stdout)["versions"]
    assert len(versions) == 2
    mlvc("add", "model")
    versions = json.loads(mlvc("log", "model", "--json").stdout)["versions"]
    assert versions[0]["kind"] == "removed" and versions[0]["id"] is None


def test_tags_and_their_history(mlvc: Run, history: dict[str, list[str]]) -> None:
    mlvc("tag", "prod", history["train"][0][:10], "-m", "first model")
    mlvc("tag", "prod", "latest:model", "-m", "better")
    tags = json.loads(mlvc("tag", "--json").stdout)["tags"]
    assert tags == {"prod": history["train"][1]}
    moves = json.loads(mlvc("tag", "--history", "prod", "--json").stdout)["history"]
    assert [(m["old"], m["new"], m["message"]) for m in moves] == [
        (None, history["train"][0], "first model"),
        (history["train"][0], history["train"][1], "better"),
    ]
    shown = json.loads(mlvc("show", "prod", "--json").stdout)
    assert shown["id"] == history["train"][1]
    assert json.loads(mlvc("log", "-n", "10", "--json").stdout)["runs"][1]["tags"] == ["prod"]
    mlvc("tag", "-d", "prod")
    assert json.loads(mlvc("tag", "--json").stdout)["tags"] == {}
    assert len(json.loads(mlvc("tag", "--history", "prod", "--json").stdout)["history"]) == 3
    bad = mlvc("tag", "latest", check=False)
    assert bad.returncode == 1 and "not a valid tag name" in bad.stderr


def test_references(mlvc: Run, history: dict[str, list[str]]) -> None:
    assert json.loads(mlvc("show", "latest", "--json").stdout)["id"] == history["evaluate"][1]
    assert json.loads(mlvc("show", "latest~1", "--json").stdout)["id"] == history["train"][1]
    producer = json.loads(mlvc("show", "latest:data/prepared", "--json").stdout)
    assert producer["id"] == history["prepare"][0]
    missing = mlvc("show", "nosuchtag", check=False)
    assert missing.returncode == 1 and missing.stderr.startswith("error: no run, tag or object")


def test_index_rebuild_gives_identical_answers(
    mlvc: Run, workspace: Path, history: dict[str, list[str]]
) -> None:
    queries = [
        ("log", "--json"),
        ("log", "model", "--consumers", "--json"),
        ("log", "data", "--json"),
        ("show", "latest", "--json"),
        ("blame", "metrics.json", "--json"),
        ("diff", history["train"][0], history["train"][1], "--json"),
        ("graph", "--format", "json"),
        ("runs", "--all", "--json"),
        ("log", "--table", "--csv"),
    ]
    before = [mlvc(*q).stdout for q in queries]
    (workspace / ".mlvc" / "index.db").unlink()
    for suffix in ("-wal", "-shm"):
        (workspace / ".mlvc" / f"index.db{suffix}").unlink(missing_ok=True)
    result = json.loads(mlvc("index", "rebuild", "--json").stdout)
    assert result["runs"] == 7 and result["skipped_packs"] == []
    after = [mlvc(*q).stdout for q in queries]
    assert after == before
    assert json.loads(mlvc("status", "--json").stdout)["clean"] is True
