"""`mlvc run` end to end, through the real console script, on real git workspaces."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import blake3
import pytest

from mlvc import codec
from mlvc.ids import Kind
from mlvc.repo import Repo
from tests.conftest import MLVC, Run, init_store, show_here, wait_past_racy_window

PYTHON = sys.executable


def _run(mlvc: Run, *argv: str, check: bool = True) -> dict:
    result = mlvc("run", "--json", "--", *argv, check=check)
    return json.loads(result.stdout)


def _commit(workspace: Path) -> None:
    subprocess.run(["git", "add", "-A"], cwd=workspace, check=True)
    subprocess.run(["git", "commit", "-qm", "work"], cwd=workspace, check=True)


def test_example_pipeline_lineage(pipeline: Path, mlvc: Run) -> None:
    runs = {
        stage: _run(mlvc, PYTHON, f"{stage}.py")
        for stage in ("prepare", "featurize", "train", "evaluate")
    }
    shown = {stage: show_here(pipeline, r["run_id"]) for stage, r in runs.items()}
    expected = {
        "prepare": ({"data/raw/points.csv", "params.yaml"}, {"data/prepared"}),
        "featurize": (
            {"data/prepared/train.csv", "data/prepared/test.csv", "params.yaml"},
            {"data/features"},
        ),
        "train": ({"data/features/train.json", "params.yaml"}, {"model", "train_metrics.json"}),
        "evaluate": ({"model/model.json", "data/features/test.json"}, {"metrics.json"}),
    }
    for stage, (inputs, outputs) in expected.items():
        run = shown[stage]
        assert set(run["inputs"]) == inputs, stage
        assert set(run["outputs"]) == outputs, stage
        assert run["status"] == "ok" and run["exit_code"] == 0
        assert run["code"]["scripts"] == {
            f"{stage}.py": blake3.blake3((pipeline / f"{stage}.py").read_bytes()).hexdigest()
        }
    assert shown["prepare"]["outputs"]["data/prepared"]["kind"] == "tree"
    # params from params.yaml, per stage that read it
    for stage in ("prepare", "featurize", "train"):
        assert shown[stage]["params"]["train.learning_rate"] == 0.1
        assert shown[stage]["params"]["prepare.seed"] == 7
    assert shown["evaluate"]["params"] == {}
    metrics = json.loads((pipeline / "metrics.json").read_text())
    assert shown["evaluate"]["metrics"] == metrics
    # producer links chain the stages down to the snapshot of the raw data
    snapshot = json.loads(mlvc("add", "data/raw", "--json").stdout)
    assert snapshot["run_id"] is None  # unchanged since it was added
    raw_producer = shown["prepare"]["inputs"]["data/raw/points.csv"]["producer_run"]
    assert raw_producer is not None
    assert show_here(pipeline, raw_producer)["kind"] == "snapshot"
    links = {
        ("featurize", "data/prepared/train.csv"): "prepare",
        ("train", "data/features/train.json"): "featurize",
        ("evaluate", "model/model.json"): "train",
        ("evaluate", "data/features/test.json"): "featurize",
    }
    for (stage, path), producer in links.items():
        assert shown[stage]["inputs"][path]["producer_run"] == runs[producer]["run_id"]
    # the environment and the machine are there
    env = shown["train"]["environment"]
    assert env["python"]["version"] == sys.version.split()[0]
    assert env["modules"]["yaml"].startswith("PyYAML==")
    assert shown["train"]["resources"]["cpu_count"] >= 1
    assert shown["train"]["resources"]["peak_rss_bytes"] > 0
    assert shown["train"]["owner"]["user"]


def test_a_changed_param_is_recorded(pipeline: Path, mlvc: Run) -> None:
    for stage in ("prepare", "featurize"):
        _run(mlvc, PYTHON, f"{stage}.py")
    first = show_here(pipeline, _run(mlvc, PYTHON, "train.py")["run_id"])
    text = (
        (pipeline / "params.yaml").read_text().replace("learning_rate: 0.1", "learning_rate: 0.5")
    )
    (pipeline / "params.yaml").write_text(text)
    second = show_here(pipeline, _run(mlvc, PYTHON, "train.py")["run_id"])
    assert first["params"]["train.learning_rate"] == 0.1
    assert second["params"]["train.learning_rate"] == 0.5
    assert first["outputs"]["model"]["id"] != second["outputs"]["model"]["id"]
    assert first["inputs"]["params.yaml"]["id"] != second["inputs"]["params.yaml"]["id"]


def test_a_shell_writer_is_seen(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    run = show_here(workspace, _run(mlvc, "sh", "-c", "echo x > out.txt")["run_id"])
    assert set(run["outputs"]) == {"out.txt"}
    assert run["outputs"]["out.txt"]["id"] == blake3.blake3(b"x\n").hexdigest()


def test_deleted_files_are_recorded(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    (workspace / "old.txt").write_text("old")
    run = show_here(workspace, _run(mlvc, "rm", "old.txt")["run_id"])
    assert run["removed"] == ["old.txt"]


@pytest.mark.parametrize("code", [0, 1, 137])
def test_exit_codes_propagate(mlvc: Run, workspace: Path, code: int) -> None:
    init_store(workspace)
    script = "kill -9 $$" if code == 137 else f"exit {code}"
    result = mlvc("run", "--", "sh", "-c", script, check=False)
    assert result.returncode == code
    assert "mlvc: run " in result.stderr
    status = "ok" if code == 0 else "failed"
    assert f" {status} · " in result.stderr


def test_sigint_to_mlvc_ends_the_child_and_records_interrupted(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    script = "import time, pathlib; pathlib.Path('started').touch(); time.sleep(60)"
    proc = subprocess.Popen(
        [MLVC, "run", "--", PYTHON, "-c", script],
        cwd=workspace,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a test runner started in the background (nohup, `&`) hands
        # its children SIGINT ignored, and an ignored SIGINT is never delivered.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while not (workspace / "started").exists():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert " interrupted · " in err
    repo = Repo.discover(workspace)
    try:
        status = repo.index.db.execute("SELECT status FROM runs WHERE kind = 'run'").fetchall()
    finally:
        repo.close()
    assert status == [("interrupted",)]


def test_output_is_live_binary_safe_and_logged(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    script = (
        "import sys; sys.stdout.buffer.write(bytes(range(256)) * 4096);"
        "sys.stderr.write('e' * 300000)"
    )
    result = subprocess.run(
        [MLVC, "run", "--", PYTHON, "-c", script],
        cwd=workspace,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == bytes(range(256)) * 4096
    assert result.stderr.startswith(b"e" * 300000)
    run_id = result.stderr.decode().split("mlvc: run ")[1].split()[0]
    logs = show_here(workspace, run_id)["logs"]
    out = subprocess.run(
        [MLVC, "cat-object", logs["stdout"]], cwd=workspace, capture_output=True, check=True
    ).stdout
    assert out == bytes(range(256)) * 4096


def test_stdin_reaches_the_command(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    result = mlvc("run", "--", "sh", "-c", "cat > got.txt", input="from stdin\n")
    assert result.returncode == 0
    assert (workspace / "got.txt").read_text() == "from stdin\n"


def test_no_secret_is_stored(mlvc: Run, workspace: Path, git: object) -> None:
    secret, password = "s3cr3t-value", "hunter2pass"
    subprocess.run(
        ["git", "remote", "add", "origin", f"https://alice:{password}@example.com/r.git"],
        cwd=workspace,
        check=True,
    )
    (workspace / "train.py").write_text("open('out.txt', 'w').write('ok')\n")
    _commit(workspace)
    init_store(workspace)
    env = {"AWS_SECRET_ACCESS_KEY": secret, "DB_URL": f"postgres://u:{password}@h/db"}
    result = mlvc("run", "--json", "--", PYTHON, "train.py", env=env)
    run = show_here(workspace, json.loads(result.stdout)["run_id"])
    assert run["code"]["remote"] == "https://example.com/r.git"
    assert "AWS_SECRET_ACCESS_KEY" in run["environment"]["variables"]["names"]
    repo = Repo.discover(workspace)
    try:
        ids = [row[0] for row in repo.index.db.execute("SELECT id FROM objects")]
        for oid in ids:
            kind, data = repo.store.get(oid)
            if kind is Kind.MANIFEST:
                data = b"".join(repo.store.iter_file(oid))
            elif kind is not Kind.CHUNK:
                data = json.dumps(codec.decode(data, "object"), default=lambda b: b.hex()).encode()
            assert secret.encode() not in data
            assert password.encode() not in data
    finally:
        repo.close()


def test_the_stored_patch_reproduces_the_dirty_tree(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    (workspace / "train.py").write_text("print('v1')\n")
    (workspace / "util.py").write_text("X = 1\n")
    _commit(workspace)
    init_store(workspace)
    (workspace / "train.py").write_text("import util\nprint('v2', util.X)\n")
    (workspace / "helper.py").write_text("Y = 2\n")
    run = show_here(workspace, _run(mlvc, PYTHON, "train.py")["run_id"])
    code = run["code"]
    assert code["dirty"] is True
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(workspace), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", code["commit"]], cwd=clone, check=True)
    patch = subprocess.run(
        [MLVC, "cat-object", code["patch"]], cwd=workspace, capture_output=True, check=True
    ).stdout
    subprocess.run(["git", "apply", "--binary", "-"], cwd=clone, input=patch, check=True)
    for name in ("train.py", "util.py", "helper.py"):
        assert (clone / name).read_bytes() == (workspace / name).read_bytes()
    assert set(code["scripts"]) == {"train.py", "util.py"}


def test_a_run_outside_git(mlvc: Run, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    init_store(plain)
    result = mlvc("run", "--json", "--", "sh", "-c", "echo 1 > a.txt", cwd=plain)
    run = show_here(plain, json.loads(result.stdout)["run_id"])
    assert run["code"] == {"git": False, "scripts": {}}
    assert set(run["outputs"]) == {"a.txt"}


def test_two_runs_at_once_both_record(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    script = (
        "import sys, time, pathlib; time.sleep(1.0);"
        "pathlib.Path(sys.argv[1]).write_text(sys.argv[1]); time.sleep(1.0)"
    )
    procs = [
        subprocess.Popen(
            [MLVC, "run", "--json", "--", PYTHON, "-c", script, name],
            cwd=workspace,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("a.txt", "b.txt")
    ]
    results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    outputs = [set(show_here(workspace, r["run_id"])["outputs"]) for r in results]
    assert outputs == [{"a.txt"}, {"b.txt"}]


def test_declared_inputs_outputs_params_metrics(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    (workspace / "in.bin").write_bytes(b"data")
    (workspace / "cfg.toml").write_text("[opt]\nlr = 0.3\n")
    (workspace / "scores.txt").write_text("")
    script = "import json; json.dump({'f1': 0.7}, open('eval.json', 'w'))"
    result = mlvc(
        "run",
        "--json",
        "-i",
        "in.bin",
        "-p",
        "cfg.toml",
        "-m",
        "eval.json",
        "--",
        PYTHON,
        "-c",
        script,
        "--epochs",
        "3",
    )
    run = show_here(workspace, json.loads(result.stdout)["run_id"])
    assert "in.bin" in run["inputs"]
    assert run["params"]["opt.lr"] == 0.3
    assert run["params"]["args.epochs"] == 3
    assert run["metrics"] == {"f1": 0.7}


def test_python_api_under_run_and_start_run(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    (workspace / "data.csv").write_text("a,b\n")
    (workspace / "api.py").write_text(
        "import mlvc\nmlvc.log_param('lr', 0.01)\n"
        "for s in range(3):\n    mlvc.log_metric('loss', 1 / (s + 1), step=s)\n"
    )
    run = show_here(workspace, _run(mlvc, PYTHON, "api.py")["run_id"])
    assert run["params"]["lr"] == 0.01
    assert run["metrics"]["loss"] == pytest.approx(1 / 3)
    assert "loss" in run["logs"]["metric_series"]
    (workspace / "nb.py").write_text(
        "import mlvc\nwith mlvc.start_run(name='nb'):\n"
        "    d = open('data.csv').read()\n    open('out.txt', 'w').write(d)\n"
        "    mlvc.log_metric('acc', 0.5)\n"
    )
    subprocess.run([PYTHON, "nb.py"], cwd=workspace, check=True)
    repo = Repo.discover(workspace)
    try:
        (oid,) = repo.index.db.execute("SELECT id FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        repo.close()
    nb = show_here(workspace, oid.hex())
    assert set(nb["inputs"]) == {"data.csv"}
    assert set(nb["outputs"]) == {"out.txt"}
    assert nb["metrics"] == {"acc": 0.5}
    assert nb["tags"] == ["nb"]


def test_api_outside_a_run_warns_and_does_nothing(workspace: Path) -> None:
    result = subprocess.run(
        [PYTHON, "-c", "import mlvc; mlvc.log_param('a', 1); mlvc.log_metric('b', 2)"],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "MLVC_SPOOL"},
    )
    assert result.stderr.count("no run is being recorded") == 1


def test_rerun_over_unchanged_input_rehashes_nothing(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    data = workspace / "big.bin"
    data.write_bytes(os.urandom(3 << 20))
    past = time.time_ns() - 10_000_000_000
    os.utime(data, ns=(past, past))
    wait_past_racy_window(data)  # else a fast first run records a racy row
    _run(mlvc, PYTHON, "-c", "open('big.bin', 'rb').read()")
    repo = Repo.discover(workspace)

    def hashed() -> int:
        return int(
            repo.index.db.execute(
                "SELECT hashed_ns FROM statcache WHERE path = 'big.bin'"
            ).fetchone()[0]
        )

    try:
        first = hashed()
        _run(mlvc, PYTHON, "-c", "open('big.bin', 'rb').read()")
        assert hashed() == first
    finally:
        repo.close()


def test_a_missing_command_exits_127_and_records_nothing(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    result = mlvc("run", "--", "no-such-command-xyz", check=False)
    assert result.returncode == 127
    assert result.stderr.startswith("error: cannot run no-such-command-xyz")
    repo = Repo.discover(workspace)
    try:
        assert repo.index.db.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    finally:
        repo.close()


def test_a_copy_is_not_the_producer_of_its_source(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    (workspace / "a.txt").write_text("same")
    _run(mlvc, "sh", "-c", "cat a.txt > b.txt")
    run = show_here(workspace, _run(mlvc, PYTHON, "-c", "open('a.txt').read()")["run_id"])
    assert run["inputs"]["a.txt"]["producer_run"] is None


def test_multiprocessing_workers_and_nested_pythons_are_traced(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    for i in (1, 2, 3):
        (workspace / f"in{i}.txt").write_text(f"data {i}")
    (workspace / "nested_in.txt").write_text("nested")
    (workspace / "child.py").write_text(
        "open('nested_in.txt').read()\nopen('nested_out.txt', 'w').write('x')\n"
    )
    (workspace / "main.py").write_text(
        "import multiprocessing as mp, subprocess, sys\n"
        "def work(i):\n    return open(f'in{i}.txt').read()\n"
        "if __name__ == '__main__':\n"
        "    with mp.get_context('fork').Pool(2) as pool:\n        pool.map(work, [1])\n"
        "    with mp.get_context('spawn').Pool(2) as pool:\n        pool.map(work, [2, 3])\n"
        "    subprocess.run([sys.executable, 'child.py'], check=True)\n"
    )
    run = show_here(workspace, _run(mlvc, PYTHON, "main.py")["run_id"])
    assert set(run["inputs"]) == {"in1.txt", "in2.txt", "in3.txt", "nested_in.txt"}
    assert set(run["outputs"]) == {"nested_out.txt"}
    assert set(run["code"]["scripts"]) == {"main.py", "child.py"}


def test_recorded_outputs_stay_out_of_the_code_patch(mlvc: Run, workspace: Path) -> None:
    (workspace / "train.py").write_text("import json\njson.dump({'acc': 1}, open('m.json', 'w'))\n")
    _commit(workspace)
    init_store(workspace)
    _run(mlvc, PYTHON, "train.py")
    (workspace / "helper.json").write_text("{}")  # untracked source, never recorded as data
    run = show_here(workspace, _run(mlvc, PYTHON, "train.py")["run_id"])
    assert run["code"]["untracked"] == ["helper.json"]
