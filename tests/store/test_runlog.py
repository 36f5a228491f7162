"""The run log (`.mlvc/runs.log`): a run exists once its line is there, so `index
rebuild` never brings back a run whose command was killed before it committed."""

from __future__ import annotations

import json
from pathlib import Path

from mlvc import codec
from mlvc.ids import Kind, object_id
from mlvc.repo import Repo
from mlvc.store import runlog
from mlvc.store.pack import PackWriter
from tests.conftest import Run, init_store


def _runs(mlvc: Run) -> list[str]:
    return [r["id"] for r in json.loads(mlvc("log", "--json").stdout)["runs"]]


def _plant_uncommitted_run(workspace: Path, template: str) -> bytes:
    """What a process killed after publishing its pack, before its commit, leaves: a
    sealed, published pack holding a run no log line names."""
    repo = Repo.discover(workspace)
    try:
        value = codec.decode(repo.store.get(bytes.fromhex(template))[1], "run")
    finally:
        repo.close()
    value["message"] = "killed before its commit"
    data = codec.encode(value)
    oid = object_id(Kind.RUN, data)
    writer = PackWriter(workspace / ".mlvc" / "packs")
    writer.add(oid, Kind.RUN, 0, len(data), data)
    writer.seal()
    writer.publish()
    return oid


def test_rebuild_leaves_out_runs_that_never_committed(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    (workspace / "a.txt").write_text("alpha\n")
    first = json.loads(mlvc("add", "a.txt", "--json").stdout)["run_id"]
    (workspace / "a.txt").write_text("beta\n")
    second = json.loads(mlvc("add", "a.txt", "--json").stdout)["run_id"]
    orphan = _plant_uncommitted_run(workspace, first)
    before = _runs(mlvc)

    result = mlvc("index", "rebuild", "--json")
    rebuilt = json.loads(result.stdout)
    assert rebuilt["uncommitted"] == [orphan.hex()] and rebuilt["runs"] == 2
    assert _runs(mlvc) == before == [second, first]
    assert mlvc("show", "latest~1", "--json").stdout == mlvc("show", first, "--json").stdout


def test_the_log_holds_each_committed_run_once_and_skips_a_torn_line(
    mlvc: Run, workspace: Path
) -> None:
    init_store(workspace)
    log = workspace / ".mlvc" / runlog.NAME
    assert log.read_bytes() == b""  # made by init: no run yet
    (workspace / "a.txt").write_text("alpha\n")
    first = json.loads(mlvc("add", "a.txt", "--json").stdout)["run_id"]
    with open(log, "ab") as handle:
        handle.write(b"0123abcd")  # a crash in the middle of an append
    (workspace / "a.txt").write_text("beta\n")
    second = json.loads(mlvc("add", "a.txt", "--json").stdout)["run_id"]
    contents = runlog.read(log)
    assert contents is not None
    assert [r.hex() for r in contents.runs] == [first, second]
    assert contents.damaged == [2]


def test_an_older_store_without_a_log_gets_one_with_every_run(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    (workspace / "a.txt").write_text("alpha\n")
    first = json.loads(mlvc("add", "a.txt", "--json").stdout)["run_id"]
    log = workspace / ".mlvc" / runlog.NAME
    log.unlink()  # as a store made before the log existed
    assert json.loads(mlvc("index", "rebuild", "--json").stdout)["runs"] == 1  # all runs
    (workspace / "b.txt").write_text("beta\n")
    second = json.loads(mlvc("add", "b.txt", "--json").stdout)["run_id"]
    contents = runlog.read(log)
    assert contents is not None and [r.hex() for r in contents.runs] == [first, second]
