"""`mlvc runs` / `mlvc log --table` on real runs of the example pipeline: the columns
(params that differ, metrics), filters, sorting, targets and the three output forms."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import PYTHON, Run, Template, build_pipeline, copy_history, train_again

NOTE = "[red]bold, one\ntwo"  # markup, a comma and a newline: shown as they are


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, ran_template: Template
) -> tuple[Path, dict[str, list[str]]]:
    """The pipeline run (train tagged `prod`), then train and evaluate again with
    `train.learning_rate` 0.5, then one command whose params file holds NOTE."""
    built = build_pipeline(tmp_path_factory, ran_template)
    ids = {stage: [run] for stage, run in built.runs.items()}
    train_again(built, ids)
    (built.workspace / "notes.yaml").write_text(json.dumps({"label": NOTE}))
    write = "open('out.txt', 'w').write('x')"
    result = built.mlvc("run", "-p", "notes.yaml", "--json", "--", PYTHON, "-c", write)
    ids["notes"] = [str(json.loads(result.stdout)["run_id"])]
    return built.workspace, ids


@pytest.fixture
def history(template: tuple[Path, dict[str, list[str]]], workspace: Path) -> dict[str, list[str]]:
    return copy_history(template, workspace)


def _json(mlvc: Run, *args: str) -> list[dict[str, object]]:
    return json.loads(mlvc("runs", *args, "--json").stdout)  # type: ignore[no-any-return]


def _csv(mlvc: Run, *args: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(mlvc("runs", *args, "--csv").stdout)))


def test_columns_are_the_params_that_differ_and_the_metrics(
    mlvc: Run, history: dict[str, list[str]]
) -> None:
    header = mlvc("runs", "--command", "train.py").stdout.splitlines()[1].split()
    assert header[:5] == ["id", "started", "command", "status", "duration"]
    # Both train runs read the same params.yaml but for the learning rate.
    assert [c for c in header if c.startswith("params.")] == ["params.train.learning_rate"]
    assert [c for c in header if c.startswith("metrics.")] == [
        "metrics.epochs",
        "metrics.train_loss",
    ]
    rows = _csv(mlvc, "--command", "train.py")
    assert [r["id"] for r in rows] == history["train"][::-1]
    assert [r["params.train.learning_rate"] for r in rows] == ["0.5", "0.1"]
    every = _csv(mlvc)
    assert {"params.train.epochs", "metrics.accuracy", "params.label"} <= set(every[0])
    assert len(every) == 8  # the raw data snapshot, 6 stage runs and the notes run


def test_log_table_is_the_same_table(mlvc: Run, history: dict[str, list[str]]) -> None:
    for args in ([], ["--csv"], ["--command", "evaluate.py", "--json"], ["model", "-n", "1"]):
        assert mlvc("log", "--table", *args).stdout == mlvc("runs", *args).stdout


def test_where_compares_numbers_as_numbers_and_text_as_text(
    mlvc: Run, history: dict[str, list[str]]
) -> None:
    fast = _json(mlvc, "--where", "params.train.learning_rate > 0.2")
    assert [r["id"] for r in fast] == [history["train"][1]]
    # 375 > 1000 is false for numbers (as text "375" > "1000" would hold)
    assert _json(mlvc, "--where", "metrics.n_test > 1000") == []
    assert len(_json(mlvc, "--where", "metrics.n_test == 375")) == 2
    both = ["--where", "metrics.accuracy >= 0", "--where", "status == ok"]
    assert {r["id"] for r in _json(mlvc, *both)} == set(history["evaluate"])
    assert len(_json(mlvc, "--where", "params.featurize.interactions == true")) == 4
    assert [r["id"] for r in _json(mlvc, "--where", f"params.label == '{NOTE}'")] == (
        history["notes"]
    )
    assert _json(mlvc, "--where", "status != ok") == []


def test_a_bad_expression_or_an_unknown_key_is_an_error_with_a_hint(
    mlvc: Run, history: dict[str, list[str]]
) -> None:
    bad = mlvc("runs", "--where", "metrics.accuracy = 1", check=False)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: cannot read the filter 'metrics.accuracy = 1'")
    assert "== != < <= > >=" in bad.stderr
    unknown = mlvc("runs", "--where", "metrics.acc > 0.9", check=False)
    assert unknown.returncode == 1
    assert "'metrics.acc', which none of the listed runs has" in unknown.stderr
    assert "did you mean 'metrics.accuracy'?" in unknown.stderr
    assert "params.train.learning_rate" in unknown.stderr  # the keys are listed
    unsortable = mlvc("runs", "--sort", "params.nope", check=False)
    assert unsortable.returncode == 1 and "--sort names 'params.nope'" in unsortable.stderr


def test_sort_by_a_column_either_way_with_runs_lacking_it_last(
    mlvc: Run, history: dict[str, list[str]]
) -> None:
    up = _json(mlvc, "--sort", "metrics.accuracy")
    accuracies = [r["metrics"].get("accuracy") for r in up]  # type: ignore[attr-defined]
    assert accuracies[:2] == sorted(accuracies[:2]) and None not in accuracies[:2]
    assert set(accuracies[2:]) == {None}
    down = _json(mlvc, "--sort", "metrics.accuracy", "--reverse", "-n", "2")
    assert [r["id"] for r in down] == [r["id"] for r in up[:2]][::-1]
    oldest = _json(mlvc, "--reverse", "-n", "1")
    assert oldest[0]["id"] == history["raw"][0]


def test_json_has_the_whole_params_and_metrics(mlvc: Run, history: dict[str, list[str]]) -> None:
    (train,) = _json(mlvc, history["train"][0])
    assert set(train) >= {"id", "started", "command", "status", "duration", "params", "metrics"}
    assert train["id"] == history["train"][0] and train["tags"] == ["prod"]
    assert train["params"]["train.epochs"] == 40  # type: ignore[index]
    assert train["metrics"] == {"epochs": 40, "train_loss": pytest.approx(0.233543, abs=0.1)}
    assert train["status"] == "ok" and train["duration"] > 0  # type: ignore[operator]


def test_targets_are_runs_tags_and_paths(mlvc: Run, history: dict[str, list[str]]) -> None:
    assert [r["id"] for r in _json(mlvc, "model/model.json")] == history["train"][::-1]
    assert [r["id"] for r in _json(mlvc, "prod", history["prepare"][0])] == [
        history["train"][0],
        history["prepare"][0],
    ]
    readers = {r["id"] for r in _json(mlvc, "params.yaml")}  # never written: its readers
    assert set(history["train"]) <= readers and history["prepare"][0] in readers
    missing = mlvc("runs", "no-such-thing", check=False)
    assert missing.returncode == 1 and "no run, tag or object named 'no-such-thing'" in (
        missing.stderr
    )


def test_failed_runs_only_with_all(mlvc: Run, history: dict[str, list[str]]) -> None:
    assert mlvc("run", "--", "sh", "-c", "exit 3", check=False).returncode == 3
    assert all(r["status"] == "ok" for r in _json(mlvc))
    (failed,) = _json(mlvc, "--all", "--where", "status == failed")
    assert failed["exit_code"] == 3
    assert _json(mlvc, "--all", "--where", "exit_code > 2") == [failed]


def test_user_text_is_shown_literally(
    mlvc: Run, workspace: Path, history: dict[str, list[str]]
) -> None:
    row, _ = _csv(mlvc, history["notes"][0], history["train"][0])
    assert row["params.label"] == NOTE  # quoted by the csv module, read back exactly
    text = mlvc("runs", history["notes"][0], history["train"][0]).stdout
    assert "[red]bold, one\\ntwo" in text  # the newline escaped, the brackets kept
    from rich.console import Console

    from mlvc.cli.runs import print_table
    from mlvc.lineage.runs import RunsQuery, runs
    from mlvc.repo import Repo

    repo = Repo.discover(workspace)
    try:
        result = runs(repo, RunsQuery(targets=(history["notes"][0], history["train"][0])))
    finally:
        repo.close()
    console = Console(record=True, width=400, markup=False, highlight=False, emoji=False)
    print_table(console, result)  # the terminal's table
    assert "[red]bold, one\\ntwo" in console.export_text()


def _facts(workspace: Path) -> int:
    with sqlite3.connect(workspace / ".mlvc" / "index.db") as db:
        return int(db.execute("SELECT count(*) FROM run_facts").fetchone()[0])


def test_an_index_made_before_run_facts_still_answers_and_rebuild_fills_it(
    mlvc: Run, workspace: Path, history: dict[str, list[str]]
) -> None:
    before = mlvc("runs", "--all", "--json").stdout
    assert _facts(workspace) == 8
    with sqlite3.connect(workspace / ".mlvc" / "index.db") as db:
        db.execute("DROP TABLE run_facts")
    assert mlvc("runs", "--all", "--json").stdout == before  # read from the run objects
    mlvc("run", "--", "sh", "-c", "echo y > y.txt")
    assert _facts(workspace) == 1  # made with the next run, holding that run
    assert len(_json(mlvc)) == 9
    mlvc("index", "rebuild")
    assert _facts(workspace) == 9
    assert json.loads(mlvc("runs", "--all", "--json").stdout)[1:] == json.loads(before)
