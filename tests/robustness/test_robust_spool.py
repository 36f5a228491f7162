"""A command that removes mlvc's own spool directory (a cleanup of `.mlvc/tmp`, say) is
still recorded, with a note, in every capture mode; its output still reaches the
terminal (a pipe nobody read would block it); nothing crashes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MLVC, Run, init_store, show_here

# Enough output to fill a pipe many times over: a pump that died would block the command.
SCRIPT = "rm -rf .mlvc/tmp/run-*; seq 1 300000; echo made > made.txt"


@pytest.mark.parametrize("mode", ["auto", "python", "strict"])
def test_a_command_that_removes_the_spool_is_recorded_with_a_note(
    mlvc: Run, workspace: Path, mode: str
) -> None:
    if mode == "strict" and shutil.which("strace") is None:
        pytest.fail("strace is required (make tools installs it)")
    init_store(workspace)
    done = subprocess.run(
        [MLVC, "run", "--json", f"--trace={mode}", "--", "sh", "-c", SCRIPT],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "mlvc hit a bug" not in done.stderr
    printed = done.stderr.splitlines()  # with --json the command's output goes to stderr
    assert printed[:300000] == [str(n) for n in range(1, 300001)]  # all of it, in order
    result = json.loads(done.stdout)
    shown = show_here(workspace, result["run_id"])
    assert "made.txt" in shown["outputs"]
    assert any("spool" in note for note in shown["environment"]["capture"]["notes"])


# Another mlvc command removes every spool whose lock is free, as each `mlvc run` does as
# it starts: here, over and over until told to stop.
RECLAIMER = (
    "import sys; from pathlib import Path; from mlvc.capture.spool import reclaim\n"
    "tmp, stop = Path(sys.argv[1]), Path(sys.argv[2])\n"
    "while not stop.exists():\n"
    "    reclaim(tmp)\n"
)


def test_the_remade_spool_is_live_while_runs_start_beside_it(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    """The spool a command removed is made again for the run's logs and traces: live
    (locked), or another run starting meanwhile removes it under the run's feet (which
    crashed it, exit 3, the run lost)."""
    init_store(workspace)
    stop = tmp_path / "stop"
    tmp = workspace / ".mlvc" / "tmp"
    others = subprocess.Popen([sys.executable, "-c", RECLAIMER, str(tmp), str(stop)])
    try:
        for n in range(3):
            script = f"rm -rf .mlvc/tmp/run-*; echo {n} > out{n}.txt"
            done = mlvc("run", "--json", "--trace=python", "--", "sh", "-c", script, check=False)
            assert done.returncode == 0, done.stderr[-2000:]
            shown = show_here(workspace, json.loads(done.stdout)["run_id"])
            assert f"out{n}.txt" in shown["outputs"]
    finally:
        stop.touch()
        others.wait()


# Files made and removed at once: many inotify events, few files for the run to record.
CHURN = "import os, sys\ndef churn(name):\n    open(name, 'w').close()\n    os.unlink(name)\n"
# Left behind by the command: churns until the test says stop (its first argument).
WRITER = (
    CHURN + "n = 0\nwhile not os.path.exists(sys.argv[1]):\n    n += 1\n    churn(f'd/left{n}')\n"
)
MADE = (
    CHURN + "for n in range(60000):\n    churn(f'd/made{n}')\nopen('d/out.txt', 'w').write('out')\n"
)


def test_a_command_that_removes_the_spool_and_leaves_a_writer_behind_is_recorded(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    """Under inotify, no marker event comes from a removed spool, so the reader of events
    is still running when the run collects what it saw: a process the command left
    behind, still making files, changed that collection under its feet (exit 3)."""
    init_store(workspace)
    (workspace / "d").mkdir()
    (workspace / "d" / "seed").write_text("seed\n")  # d/ is watched from the start
    stop = tmp_path / "stop"
    script = (
        f'rm -rf .mlvc/tmp/run-*; {sys.executable} -c "$WRITER" {stop} >/dev/null 2>&1 &'
        f' {sys.executable} -c "$MADE"'
    )
    try:
        done = mlvc(
            "run", "--json", "--trace=auto", "--", "sh", "-c", script,
            env={"WRITER": WRITER, "MADE": MADE}, check=False,
        )  # fmt: skip
    finally:
        stop.touch()
    assert done.returncode == 0, done.stderr[-2000:]
    shown = show_here(workspace, json.loads(done.stdout)["run_id"])
    assert "d/out.txt" in shown["outputs"]
