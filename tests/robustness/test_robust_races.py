"""Races with other processes, provoked at known points: a run killed with SIGKILL, a
spool left by a dead run, files rewritten while `run` or `add` store them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlvc.repo import Repo

PYTHON = sys.executable
MIB = 1 << 20


def _run_outputs(cli, *argv: str) -> dict:
    done = cli("run", "--json", "--", *argv).ok()
    run_id = json.loads(done.stdout)["run_id"]
    return json.loads(cli("show", run_id, "--json").ok().stdout)["outputs"]


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _wait_for(path: Path, proc: subprocess.Popen[bytes]) -> None:
    """Until `path` exists (the process reached a known point) or `proc` ended."""
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None, f"exited {proc.returncode} before {path.name} appeared"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def test_a_run_killed_with_sigkill_does_not_hide_the_next_runs_outputs(
    repo: Repo, workspace: Path, cli
) -> None:
    # The killed run's Python command traced its write of model.bin into the spool.
    script = (
        "import pathlib, time; pathlib.Path('model.bin').write_text('1');"
        "pathlib.Path('ready').touch(); time.sleep(600)"
    )
    proc = cli.popen("run", "--", PYTHON, "-c", script, start_new_session=True)
    _wait_for(workspace / "ready", proc)
    os.killpg(proc.pid, signal.SIGKILL)  # mlvc and its command, at a known point
    proc.communicate(timeout=60)
    (workspace / "ready").unlink()
    assert list((repo.dir / "tmp").glob("run-*")), "the killed run left no spool"

    outputs = _run_outputs(cli, "sh", "-c", "echo v > model.bin")

    assert set(outputs) == {"model.bin"}
    assert not list((repo.dir / "tmp").glob("run-*")), "the stale spool was not reclaimed"


@pytest.mark.parametrize("layout", ["locked-spool", "spool-before-locks"])
def test_a_stale_spool_of_a_dead_process_is_ignored_and_removed(
    repo: Repo, workspace: Path, cli, layout: str
) -> None:
    tmp = repo.dir / "tmp"
    if layout == "locked-spool":
        spool = tmp / f"run-{_dead_pid()}-0123456789ab"
        spool.mkdir()
        (spool / "lock").write_text("")  # nobody holds it: its run is gone
    else:  # what mlvc wrote before spools were locked
        spool = tmp / "run-0123456789abcdef"
        spool.mkdir()
    (spool / "4242.trace").write_text(json.dumps(["w", str(workspace / "model.bin")]) + "\n")

    outputs = _run_outputs(cli, "sh", "-c", "echo v > model.bin")

    assert set(outputs) == {"model.bin"}
    assert not spool.exists()


def test_a_live_spool_still_claims_its_runs_writes(repo: Repo, workspace: Path, cli) -> None:
    """The other side: a run in progress keeps its written paths out of our outputs."""
    script = (
        "import pathlib, time; pathlib.Path('theirs.bin').write_text('1');"
        "pathlib.Path('ready').touch()\n"
        "while not pathlib.Path('stop').exists(): time.sleep(0.01)"
    )
    other = cli.popen("run", "--", PYTHON, "-c", script)
    try:
        _wait_for(workspace / "ready", other)
        outputs = _run_outputs(cli, "sh", "-c", "echo 2 > theirs.bin; echo v > mine.bin")
    finally:
        (workspace / "stop").touch()
        other.communicate(timeout=60)
    assert other.returncode == 0
    assert set(outputs) == {"mine.bin"}
