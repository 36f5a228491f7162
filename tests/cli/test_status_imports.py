"""`mlvc status` in a repository with runs stays a fast start-up: the stale-step check
answers from the index and the step memo, never opening the object store, when nothing
is stale (issue 11: status keeps its figure). Checked on the modules the real console
script imports (`PYTHONPROFILEIMPORTTIME` lists them on stderr)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.conftest import PYTHON, Ran, Run, wait_past_racy_window

# What the stale check must not import: the object store, its codecs, the run objects.
STORE = r"zstandard|mlvc\.store\.(objectstore|pack)\b|mlvc\.objects\b|mlvc\.lineage\.resolve\b"
# What a clean status with runs must not import at all: the above, the full index,
# capture, rich, dataclasses and blake3 (nothing is hashed; each milliseconds of start-up).
HEAVY = re.compile(rf"{STORE}|mlvc\.store\.index\b|mlvc\.capture\b|rich\b|dataclasses\b|blake3\b")
# `mlvc status` with an audit hook that lists the sources compile() is given, on stderr.
COMPILES = """
import json, sys
seen = []
def hook(event, args):
    if event == "compile" and args[1] == "<string>":  # not a module's source (no .pyc)
        seen.append(args[0].decode() if isinstance(args[0], bytes) else str(args[0]))
sys.addaudithook(hook)
from mlvc.cli import main
try:
    main()
finally:
    print("compiled:", json.dumps(seen), file=sys.stderr)
"""


def _settled(ws: Path) -> None:
    """Past the racy window of every file: a status that hashes them (the workspace is a
    copy: new inodes) leaves stat-cache rows that vouch for them from then on."""
    for path in ws.rglob("*"):
        if path.is_file() and ".mlvc" not in path.parts:
            wait_past_racy_window(path)


def test_a_clean_status_compiles_no_source(ran_pipeline: Ran, mlvc: Run) -> None:
    """The first compile() of a process builds the ast types, ~10 M instructions (a clean
    status is ~150 M): a typing.NamedTuple with string annotations (`from __future__
    import annotations`) compiles each one. namedtuple's own `__new__` is not compile()."""
    _settled(ran_pipeline.workspace)
    mlvc("status")
    result = subprocess.run(
        [PYTHON, "-c", COMPILES, "status", "--json"],
        cwd=ran_pipeline.workspace,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout)["stale"] == []
    line = result.stderr.splitlines()[-1]
    assert line.startswith("compiled: ")
    sources = json.loads(line.removeprefix("compiled: "))
    assert [s for s in sources if not s.startswith("lambda _cls")] == []


def _imported(mlvc: Run, *args: str) -> tuple[set[str], str]:
    result = mlvc(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return names, result.stdout


def test_a_clean_status_with_runs_checks_steps_without_the_object_store(
    ran_pipeline: Ran, mlvc: Run
) -> None:
    _settled(ran_pipeline.workspace)
    mlvc("status")  # hashes the copied files once
    names, out = _imported(mlvc, "status", "--json")
    assert "mlvc.lineage.stale" in names  # the check ran
    assert json.loads(out)["stale"] == []
    assert sorted(n for n in names if HEAVY.match(n)) == []


def test_status_after_a_new_run_needs_no_object_store(ran_pipeline: Ran, mlvc: Run) -> None:
    ws, _ = ran_pipeline
    mlvc("status")
    (ws / "params.yaml").write_text((ws / "params.yaml").read_text() + "\n")
    mlvc("run", "--", PYTHON, "prepare.py")  # `mlvc run` adds its step to the memo
    names, out = _imported(mlvc, "status", "--json")
    assert "mlvc.lineage.stale" in names
    assert json.loads(out)["stale"] == []
    # The outputs just written may be hashed (racy stat rows): the index is not checked.
    assert sorted(n for n in names if re.match(STORE, n)) == []
