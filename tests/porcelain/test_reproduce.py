"""`mlvc reproduce` end to end: scratch worktrees, second clones, no-git workspaces."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import blake3

from tests.conftest import Ran, Run, init_store, show_here

PYTHON = sys.executable


def _run(mlvc: Run, *argv: str, cwd: Path | None = None) -> str:
    return str(json.loads(mlvc("run", "--json", "--", *argv, cwd=cwd).stdout)["run_id"])


def _reproduce(mlvc: Run, *args: str, cwd: Path | None = None) -> tuple[int, dict]:
    result = mlvc("reproduce", "--json", *args, cwd=cwd, check=False)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def _worktrees(ws: Path) -> int:
    out = subprocess.run(["git", "worktree", "list"], cwd=ws, capture_output=True, text=True)
    return len(out.stdout.splitlines())


def test_every_example_stage_reproduces_identically(ran_pipeline: Ran, mlvc: Run) -> None:
    pipeline, runs = ran_pipeline
    before = {p: p.read_bytes() for p in (pipeline / "model").iterdir()}
    for stage, run_id in runs.items():
        code, result = _reproduce(mlvc, run_id)
        assert code == 0 and result["identical"], (stage, result)
        assert result["outputs"] and all(o["verdict"] == "identical" for o in result["outputs"])
        assert result["metrics"] == {}
        shown = show_here(pipeline, result["run_id"])
        assert shown["reproduces"] == run_id
        assert shown["command"] == [PYTHON, f"{stage}.py"]
    # the user's workspace and its tracking are untouched; no worktree is left behind
    assert {p: p.read_bytes() for p in (pipeline / "model").iterdir()} == before
    assert json.loads(mlvc("status", "--json").stdout)["clean"]
    assert _worktrees(pipeline) == 1


def test_a_timestamp_in_an_output_is_reported_as_differing(workspace: Path, mlvc: Run, git) -> None:
    (workspace / "stamp.py").write_text(
        "import json, time\n"
        "open('stamp.txt', 'w').write(str(time.time()))\n"
        "open('fixed.txt', 'w').write('same every time')\n"
        "json.dump({'score': time.time() % 1}, open('metrics.json', 'w'))\n"
    )
    git("add", "-A", cwd=workspace)
    git("commit", "-qm", "stamp", cwd=workspace)
    init_store(workspace)
    ran = _run(mlvc, PYTHON, "stamp.py")
    code, result = _reproduce(mlvc, ran)
    assert code == 1 and not result["identical"]
    verdicts = {o["path"]: o["verdict"] for o in result["outputs"]}
    assert verdicts == {"fixed.txt": "identical", "metrics.json": "differs", "stamp.txt": "differs"}
    old, new = result["metrics"]["score"]
    assert old != new
    text = mlvc("reproduce", ran, check=False)
    assert text.returncode == 1
    assert "stamp.txt" in text.stdout and "differs" in text.stdout and "metric score" in text.stdout


def test_each_differing_output_says_how_it_differs(workspace: Path, mlvc: Run, git) -> None:
    """Text: the first differing line; JSON/YAML: the keys; a pickle: where, inside which
    class's object (read by opcode, never unpickled); other bytes: the first offset."""
    (workspace / "model.py").write_text(
        "class Regressor:\n    def __init__(self, w):\n        self.w = w\n"
    )
    (workspace / "train.py").write_text(
        "import json, os, pickle\n"
        "from model import Regressor\n"
        "n = int.from_bytes(os.urandom(4), 'big') | 1\n"
        "open('report.txt', 'w').write(f'same\\nrun {n}\\nsame\\n')\n"
        "json.dump({'a': 1, 'seed': n, 'b': {'c': n}}, open('scores.json', 'w'))\n"
        "open('notes.yaml', 'w').write(f'kept: 1\\nseed: {n}\\n')\n"
        "pickle.dump(Regressor([1.0, n]), open('model.pkl', 'wb'), protocol=4)\n"
        "open('blob.bin', 'wb').write(b'\\0\\1' + n.to_bytes(4, 'big'))\n"
    )
    git("add", "-A", cwd=workspace)
    git("commit", "-qm", "train", cwd=workspace)
    init_store(workspace)
    code, result = _reproduce(mlvc, _run(mlvc, PYTHON, "train.py"))
    assert code == 1
    reasons = {o["path"]: o["reason"] for o in result["outputs"]}
    assert reasons["report.txt"].startswith("line 2: 'run ")
    assert reasons["scores.json"].startswith("keys differ: b.c ")
    assert ", seed " in reasons["scores.json"] and "a " not in reasons["scores.json"]
    assert reasons["notes.yaml"].startswith("key differ: seed ")
    assert "inside a model.Regressor object" in reasons["model.pkl"]
    assert reasons["blob.bin"].startswith("6 B -> 6 B, first differing byte at offset ")
    assert result["causes"] == []
    text = mlvc("reproduce", result["original"], check=False).stdout
    assert "report.txt: line 2: 'run " in text


def test_reproduce_names_what_was_never_recorded(workspace: Path, mlvc: Run, git) -> None:
    (workspace / ".gitignore").write_text("local.csv\n")
    (workspace / "fit.py").write_text("open('fitted.txt', 'w').write('fitted')\n")
    git("add", "-A", cwd=workspace)
    git("commit", "-qm", "ignore", cwd=workspace)
    init_store(workspace)
    (workspace / "local.csv").write_text("1,2\n")
    # A shell reads the file under the Python-only capture mode: nothing sees the read,
    # nothing declares it (the default mode would record it).
    recorded = mlvc("run", "--trace=python", "--json", "--", "sh", "-c", "cat local.csv > copy.csv")
    unread = json.loads(recorded.stdout)["run_id"]
    code, result = _reproduce(mlvc, unread)
    assert code == 1
    assert result["causes"] == ["input local.csv was never recorded: declare it with -i"]
    assert result["outputs"][0]["reason"] == "now empty (was 1 line)"
    script = (workspace / "fit.py").read_text()
    stdin = json.loads(mlvc("run", "--json", "--", PYTHON, "-", input=script).stdout)["run_id"]
    # Its stdin empty, as it would be in CI: a terminal's would be read by `python -`.
    done = mlvc("reproduce", "--json", stdin, check=False, input="")
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["outputs"][0]["verdict"] == "missing"
    assert result["causes"] == ["code not recorded (command read from stdin)"]
    text = mlvc("reproduce", stdin, check=False, input="")
    assert "why: code not recorded (command read from stdin)" in text.stdout


def test_reproduce_from_a_second_clone_sharing_only_the_store(
    ran_pipeline: Ran, mlvc: Run, tmp_path: Path
) -> None:
    pipeline, runs = ran_pipeline
    for how in ("symlink", "copy"):
        clone = tmp_path / f"clone-{how}"
        subprocess.run(["git", "clone", "-q", str(pipeline), str(clone)], check=True)
        assert not (clone / "data").exists()  # the data is not in git: only in the store
        if how == "symlink":
            (clone / ".mlvc").symlink_to(pipeline / ".mlvc")
        else:
            shutil.copytree(pipeline / ".mlvc", clone / ".mlvc")
        code, result = _reproduce(mlvc, runs["train"], cwd=clone)
        assert code == 0 and result["identical"], result
        assert not (clone / "model").exists()  # reproduced in a scratch workspace


def test_reproduce_without_git_uses_the_recorded_scripts(tmp_path: Path, mlvc: Run) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "helper.py").write_text("def double(x):\n    return 2 * x\n")
    (plain / "main.py").write_text(
        "from helper import double\n"
        "n = int(open('input.txt').read())\n"
        "open('out.txt', 'w').write(str(double(n)))\n"
    )
    (plain / "input.txt").write_text("21")
    init_store(plain)
    ran = _run(mlvc, PYTHON, "main.py", cwd=plain)
    shown = show_here(plain, ran)
    assert shown["code"]["git"] is False
    (plain / "input.txt").write_text("5")  # later changes do not matter: inputs come from the store
    code, result = _reproduce(mlvc, ran, cwd=plain)
    assert code == 0 and result["identical"], result
    assert (plain / "out.txt").read_text() == "42"


def test_keep_leaves_the_scratch_workspace(pipeline: Path, mlvc: Run) -> None:
    _run(mlvc, PYTHON, "prepare.py")
    code, result = _reproduce(mlvc, "latest", "--keep")
    kept = Path(result["workspace"])
    try:
        assert code == 0
        assert (kept / "data/prepared/train.csv").is_file()
        assert (kept / "prepare.py").is_file()
        assert _worktrees(pipeline) == 2
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(kept)], cwd=pipeline)
        shutil.rmtree(kept.parent, ignore_errors=True)


def test_in_place_restores_inputs_and_records_in_the_workspace(pipeline: Path, mlvc: Run) -> None:
    runs = {stage: _run(mlvc, PYTHON, f"{stage}.py") for stage in ("prepare", "featurize")}
    raw = pipeline / "data/raw/points.csv"
    original = raw.read_bytes()
    raw.write_bytes(original + b"1,2,3\n")  # an unrecorded edit of an input
    code, result = _reproduce(mlvc, runs["prepare"], "--in-place")
    assert code == 0 and result["identical"], result
    assert raw.read_bytes() == original
    assert result["workspace"] is None
    # the edit was stored before the input was put back
    edited = blake3.blake3(original + b"1,2,3\n").hexdigest()
    assert mlvc("cat-object", edited).stdout.endswith("1,2,3\n")  # found by its id: exact
    shown = show_here(pipeline, result["run_id"])
    assert shown["reproduces"] == runs["prepare"]


def test_a_failing_run_reproduces_its_failure(workspace: Path, mlvc: Run, git) -> None:
    (workspace / "fail.py").write_text("open('partial.txt', 'w').write('x')\nraise SystemExit(3)\n")
    git("add", "-A", cwd=workspace)
    git("commit", "-qm", "fail", cwd=workspace)
    init_store(workspace)
    failed = mlvc("run", "--json", "--", PYTHON, "fail.py", check=False)
    assert failed.returncode == 3
    code, result = _reproduce(mlvc, json.loads(failed.stdout)["run_id"])
    assert result["exit_code"] == result["original_exit_code"] == 3
    assert code == 0 and result["identical"]


def test_a_snapshot_cannot_be_reproduced(pipeline: Path, mlvc: Run) -> None:
    result = mlvc("reproduce", "latest:data/raw", check=False)
    assert result.returncode == 1
    assert "is a snapshot" in result.stderr and "hint:" in result.stderr


def test_environment_differences_are_listed(pipeline: Path, mlvc: Run, tmp_path: Path) -> None:
    # recorded under one interpreter (a venv first on PATH), reproduced under another
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    env = {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    bare = mlvc("run", "--json", "--", "python", "-c", "print('hi')", env=env)
    rerun = mlvc("reproduce", "--json", json.loads(bare.stdout)["run_id"], check=False)
    assert rerun.returncode == 0
    differences = json.loads(rerun.stdout)["environment"]
    assert any(line.startswith("python at ") for line in differences), differences
