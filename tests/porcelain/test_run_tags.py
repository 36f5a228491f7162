"""`mlvc run -t` and `mlvc.start_run(name=)` make real tags: listed by `mlvc tag`, usable
as refs, shown by `log --json`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import Run, init_store

PYTHON = sys.executable


def _json(mlvc: Run, *args: str) -> Any:
    return json.loads(mlvc(args[0], "--json", *args[1:]).stdout)


def test_run_tag_is_a_real_tag(workspace: Path, mlvc: Run) -> None:
    init_store(workspace)
    first = _json(mlvc, "run", "-t", "best", "--", "sh", "-c", "echo 1 > out.txt")["run_id"]
    assert _json(mlvc, "tag")["tags"] == {"best": first}
    assert _json(mlvc, "show", "best")["id"] == first
    assert _json(mlvc, "log")["runs"][0]["tags"] == ["best"]
    second = _json(mlvc, "run", "--tag", "best", "--", "sh", "-c", "echo 2 > out.txt")["run_id"]
    assert _json(mlvc, "tag")["tags"] == {"best": second}  # moved, its history kept
    moves = _json(mlvc, "tag", "best", "--history")["history"]
    assert [(m["old"], m["new"]) for m in moves] == [(None, first), (first, second)]
    mlvc("checkout", "best")
    assert (workspace / "out.txt").read_text() == "2\n"


def test_a_bad_tag_name_is_refused_before_the_command_runs(workspace: Path, mlvc: Run) -> None:
    init_store(workspace)
    refused = mlvc("run", "-t", "latest", "--", "sh", "-c", "touch ran", check=False)
    assert refused.returncode == 1 and "not a valid tag name" in refused.stderr
    assert not (workspace / "ran").exists()


def test_start_run_name_is_a_real_tag(workspace: Path, mlvc: Run) -> None:
    init_store(workspace)
    (workspace / "nb.py").write_text(
        "import mlvc\nwith mlvc.start_run(name='baseline'):\n    open('out.txt', 'w').write('x')\n"
    )
    subprocess.run([PYTHON, "nb.py"], cwd=workspace, check=True)
    tagged = _json(mlvc, "tag")["tags"]
    assert list(tagged) == ["baseline"]
    assert _json(mlvc, "show", "baseline")["outputs"].keys() == {"out.txt"}
    assert _json(mlvc, "log")["runs"][0]["tags"] == ["baseline"]
