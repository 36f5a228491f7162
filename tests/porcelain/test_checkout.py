"""`mlvc checkout` end to end on the example pipeline and small hand-made runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import blake3

from tests.conftest import Ran, Run, init_store, wait_past_racy_window

PYTHON = sys.executable
OUTPUTS = ("model/model.json", "train_metrics.json", "metrics.json")


def _b3(path: Path) -> str:
    return blake3.blake3(path.read_bytes()).hexdigest()


def _run(mlvc: Run, *argv: str) -> str:
    return str(json.loads(mlvc("run", "--json", "--", *argv).stdout)["run_id"])


def _pipeline(mlvc: Run, ws: Path) -> dict[str, str]:
    return {s: _run(mlvc, PYTHON, f"{s}.py") for s in ("prepare", "featurize", "train", "evaluate")}


def _checkout(mlvc: Run, *args: str, check: bool = True) -> dict:
    result = mlvc("checkout", "--json", *args, check=check)
    return json.loads(result.stdout) if result.returncode == 0 else {"stderr": result.stderr}


def _set_rate(ws: Path, rate: str) -> None:
    params = ws / "params.yaml"
    params.write_text(params.read_text().replace("learning_rate: 0.1", f"learning_rate: {rate}"))


def test_checkout_restores_each_train_run_bit_for_bit(ran_pipeline: Ran, mlvc: Run) -> None:
    pipeline, first = ran_pipeline
    first_ids = {p: _b3(pipeline / p) for p in OUTPUTS}
    _set_rate(pipeline, "0.5")
    second = _pipeline(mlvc, pipeline)
    second_ids = {p: _b3(pipeline / p) for p in OUTPUTS}
    assert first_ids["model/model.json"] != second_ids["model/model.json"]

    _checkout(mlvc, first["train"])
    _checkout(mlvc, first["evaluate"])
    assert {p: _b3(pipeline / p) for p in OUTPUTS} == first_ids
    # the recorded ids are the b3sum of the restored bytes
    shown = json.loads(mlvc("show", first["train"], "--json").stdout)
    assert shown["outputs"]["train_metrics.json"]["id"] == first_ids["train_metrics.json"]
    assert "learning_rate: 0.1" in (pipeline / "params.yaml").read_text()  # the input it read
    assert json.loads(mlvc("status", "--json").stdout)["clean"]

    _checkout(mlvc, second["train"])
    _checkout(mlvc, second["evaluate"])
    assert {p: _b3(pipeline / p) for p in OUTPUTS} == second_ids
    assert "learning_rate: 0.5" in (pipeline / "params.yaml").read_text()


def test_modified_unrecorded_file_is_saved_and_recoverable(ran_pipeline: Ran, mlvc: Run) -> None:
    pipeline, runs = ran_pipeline
    recorded = (pipeline / "model/model.json").read_bytes()
    mine = b'{"weights": [1, 2, 3]}  # tuned by hand\n'
    (pipeline / "model/model.json").write_bytes(mine)

    result = _checkout(mlvc, runs["train"])
    assert (pipeline / "model/model.json").read_bytes() == recorded
    (saved,) = result["saved"]
    assert saved["path"] == "model/model.json"
    assert saved["id"] == blake3.blake3(mine).hexdigest()
    assert mlvc("cat-object", saved["id"]).stdout.encode() == mine
    # the save is a snapshot run: checking it out brings the edit back
    assert json.loads(mlvc("show", result["saved_run"], "--json").stdout)["kind"] == "snapshot"
    _checkout(mlvc, result["saved_run"])
    assert (pipeline / "model/model.json").read_bytes() == mine
    # and the recorded version again: already in the store, so nothing more is saved
    assert _checkout(mlvc, runs["train"])["saved"] == []


def test_dry_run_lists_and_changes_nothing(pipeline: Path, mlvc: Run) -> None:
    first = _run(mlvc, PYTHON, "prepare.py")
    target = pipeline / "data/prepared/train.csv"
    target.write_text("edited\n")
    runs_before = mlvc("log", "--oneline").stdout
    result = _checkout(mlvc, first, "--dry-run")
    assert result["dry_run"]
    assert {"path": "data/prepared/train.csv", "op": "update"}.items() <= result["changes"][
        0
    ].items()
    assert [s["path"] for s in result["saved"]] == ["data/prepared/train.csv"]
    assert target.read_text() == "edited\n"
    assert mlvc("log", "--oneline").stdout == runs_before
    text = mlvc("checkout", first, "--dry-run").stdout
    assert "would checkout" in text and "would be stored first" in text


def test_force_overwrites_without_storing(pipeline: Path, mlvc: Run) -> None:
    first = _run(mlvc, PYTHON, "prepare.py")
    edit = b"never recorded\n"
    (pipeline / "data/prepared/test.csv").write_bytes(edit)
    result = _checkout(mlvc, first, "--force")
    assert result["saved"] == [] and result["saved_run"] is None
    missing = mlvc("cat-object", blake3.blake3(edit).hexdigest(), check=False)
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_clean_removes_extra_files_only_when_asked(pipeline: Path, mlvc: Run) -> None:
    first = _run(mlvc, PYTHON, "prepare.py")
    extra = pipeline / "data/prepared/notes.txt"
    extra.write_text("scratch notes\n")
    assert _checkout(mlvc, first)["changes"] == []
    assert extra.exists()  # untracked files stay without --clean
    result = _checkout(mlvc, first, "--clean")
    assert not extra.exists()
    assert [c["op"] for c in result["changes"]] == ["delete"]
    assert [s["path"] for s in result["saved"]] == ["data/prepared/notes.txt"]
    assert mlvc("cat-object", result["saved"][0]["id"]).stdout == "scratch notes\n"


def test_paths_limit_the_checkout(ran_pipeline: Ran, mlvc: Run) -> None:
    pipeline, first = ran_pipeline
    first_model = _b3(pipeline / "model/model.json")
    _set_rate(pipeline, "0.5")
    _pipeline(mlvc, pipeline)
    latest_metrics = _b3(pipeline / "train_metrics.json")
    result = _checkout(mlvc, first["train"], "--", "model")
    assert [c["path"] for c in result["changes"]] == ["model/model.json"]
    assert _b3(pipeline / "model/model.json") == first_model
    assert _b3(pipeline / "train_metrics.json") == latest_metrics
    assert "learning_rate: 0.5" in (pipeline / "params.yaml").read_text()
    # from a subdirectory, paths are relative to it
    sub = _checkout(mlvc, first["train"], "--dry-run", "--", "model.json", check=False)
    assert "stderr" in sub and "neither read nor wrote 'model.json'" in sub["stderr"]
    nested = mlvc("checkout", first["train"], "--json", "--", "model.json", cwd=pipeline / "model")
    assert json.loads(nested.stdout)["unchanged"] == 1


def test_inputs_restores_what_the_run_read(ran_pipeline: Ran, mlvc: Run) -> None:
    pipeline, runs = ran_pipeline
    _set_rate(pipeline, "0.5")
    wait_past_racy_window(pipeline / "params.yaml")  # the stat cache may vouch for it
    mlvc("add", "params.yaml")
    # a run that reads params.yaml and rewrites it: its input and output versions differ
    rewrite = (
        "import pathlib; p = pathlib.Path('params.yaml'); p.write_text(p.read_text() + '#\\n')"
    )
    tuned = _run(mlvc, PYTHON, "-c", rewrite)
    after = (pipeline / "params.yaml").read_text()
    _checkout(mlvc, runs["train"])
    _checkout(mlvc, tuned, "--inputs")
    assert (pipeline / "params.yaml").read_text() == after[:-2]
    _checkout(mlvc, tuned)
    assert (pipeline / "params.yaml").read_text() == after


def test_exec_bit_and_deletions_are_restored(workspace: Path, mlvc: Run) -> None:
    init_store(workspace)
    script = (
        "import os, pathlib; p = pathlib.Path('tool.sh'); p.write_text('echo hi\\n');"
        " os.chmod(p, 0o755)"
    )
    made = _run(mlvc, PYTHON, "-c", script)
    os.chmod(workspace / "tool.sh", 0o644)
    result = _checkout(mlvc, made)
    assert [c["op"] for c in result["changes"]] == ["mode"]
    assert os.stat(workspace / "tool.sh").st_mode & 0o111
    shown = json.loads(mlvc("show", made, "--json").stdout)
    assert shown["outputs"]["tool.sh"]["executable"] is True
    removed = _run(mlvc, PYTHON, "-c", "import os; os.remove('tool.sh')")
    _checkout(mlvc, made)
    assert (workspace / "tool.sh").read_text() == "echo hi\n"
    result = _checkout(mlvc, removed)
    assert not (workspace / "tool.sh").exists()
    assert [c["op"] for c in result["changes"]] == ["delete"]
    assert result["saved"] == []  # its content was recorded: nothing to save


def test_code_checkout_restores_commit_and_patch(workspace: Path, mlvc: Run, git) -> None:
    (workspace / "train.py").write_text("print('v1')\n")
    git("add", "-A", cwd=workspace)
    git("commit", "-qm", "v1", cwd=workspace)
    first_commit = git("rev-parse", "HEAD", cwd=workspace).strip()
    init_store(workspace)
    (workspace / "train.py").write_text("print('v1 with an uncommitted tweak')\n")
    ran = _run(mlvc, PYTHON, "train.py")
    (workspace / "train.py").write_text("print('v2')\n")
    git("commit", "-qam", "v2", cwd=workspace)

    (workspace / "train.py").write_text("print('dirty')\n")
    refused = mlvc("checkout", ran, "--code", check=False)
    assert refused.returncode == 1 and "uncommitted changes" in refused.stderr
    assert (workspace / "train.py").read_text() == "print('dirty')\n"
    git("checkout", "--", "train.py", cwd=workspace)

    result = _checkout(mlvc, ran, "--code")
    assert result["code"] == {"commit": first_commit, "patch": True}
    assert git("rev-parse", "HEAD", cwd=workspace).strip() == first_commit
    assert (workspace / "train.py").read_text() == "print('v1 with an uncommitted tweak')\n"
    assert "(detached)" in git("status", "--porcelain=v2", "--branch", cwd=workspace)


def test_checkout_of_unknown_run_fails_clearly(repo, mlvc: Run) -> None:
    result = mlvc("checkout", "deadbeef", check=False)
    assert result.returncode == 1
    assert "no run, tag or object named 'deadbeef'" in result.stderr


def test_status_is_clean_after_checkout_without_rehashing(pipeline: Path, mlvc: Run) -> None:
    first = _run(mlvc, PYTHON, "prepare.py")
    _set_rate(pipeline, "0.5")
    _run(mlvc, PYTHON, "prepare.py")
    _checkout(mlvc, first)
    status = json.loads(mlvc("status", "--json").stdout)
    assert status["clean"], status
    log = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("
            "'select count(*) from statcache').fetchone()[0])",
            str(pipeline / ".mlvc/index.db"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(log.stdout) >= 2  # the restored files have stat-cache rows


def test_checkout_of_many_files_in_one_directory(workspace: Path, mlvc: Run) -> None:
    """Above FORK_MIN a forked process writes half of the files; in a directory both
    write to, its temporary names must never collide with the parent's."""
    from mlvc.forked import FORK_MIN

    init_store(workspace)
    flat = workspace / "flat"
    flat.mkdir()
    contents = {f"f{i:05}": os.urandom(64) + str(i).encode() for i in range(FORK_MIN + 200)}
    for name, data in contents.items():
        (flat / name).write_bytes(data)
    mlvc("add", "flat")
    flat.rename(workspace.parent / "aside")
    mlvc("checkout", "latest:flat")
    assert sorted(p.name for p in flat.iterdir()) == sorted(contents)
    for name, data in contents.items():
        assert (flat / name).read_bytes() == data
    assert json.loads(mlvc("status", "--json").stdout)["clean"] is True
