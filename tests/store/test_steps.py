"""The step memo (`.mlvc/steps.msgpack`): appended to, read back, repaired from the
runs when damaged. A load function stands in for the store and counts its calls."""

from __future__ import annotations

from pathlib import Path

from mlvc.ids import ObjectId
from mlvc.objects import PathRecord, Run
from mlvc.store import steps


def _run(command: str, output: str) -> Run:
    record = PathRecord(ObjectId(bytes(32)), "file", 1)
    return Run(
        kind="run",
        started="2026-12-06T10:00:00.000000Z",
        ended="2026-12-06T10:00:01.000000Z",
        status="ok",
        command=("python", command),
        inputs={"data": PathRecord(ObjectId(bytes(32)), "tree", 1)},
        outputs={output: record},
        code={"scripts": {command: bytes(32)}},
        params={"train.lr": 0.1, "layers": [64, 32]},
    )


RUNS = {ObjectId(bytes([n]) * 32): _run(f"step{n}.py", f"out{n}") for n in range(3)}


class _Store:
    def __init__(self) -> None:
        self.loaded: list[ObjectId] = []

    def load(self, run_id: ObjectId) -> Run:
        self.loaded.append(run_id)
        return RUNS[run_id]


def _check(memo: steps.Memo) -> None:
    for run_id, run in RUNS.items():
        assert memo.keys[run_id] == (run.command, run.cwd)
        facts = memo.facts(run_id)
        assert facts == steps.facts_of(run)
        assert facts.kinds == {"data": "tree"} and facts.params["layers"] == [64, 32]


def test_entries_remembered_by_run_are_read_without_the_store(tmp_path: Path) -> None:
    for run_id, run in RUNS.items():
        steps.remember(tmp_path, {run_id: run})
    store = _Store()
    _check(steps.step_facts(tmp_path, list(RUNS), store.load))
    assert store.loaded == []


def test_a_missing_memo_is_written_and_a_missing_entry_appended(tmp_path: Path) -> None:
    store = _Store()
    first = list(RUNS)[:2]
    steps.step_facts(tmp_path, first, store.load)
    assert store.loaded == first
    store.loaded.clear()
    _check(steps.step_facts(tmp_path, list(RUNS), store.load))
    assert store.loaded == [list(RUNS)[2]]
    store.loaded.clear()
    _check(steps.step_facts(tmp_path, list(RUNS), store.load))
    assert store.loaded == []


def test_a_torn_last_entry_is_dropped_before_anything_is_appended(tmp_path: Path) -> None:
    for run_id, run in RUNS.items():
        steps.remember(tmp_path, {run_id: run})
    memo = tmp_path / steps.NAME
    memo.write_bytes(memo.read_bytes()[:-5])  # a crash mid-append
    store = _Store()
    _check(steps.step_facts(tmp_path, list(RUNS), store.load))
    assert store.loaded == [list(RUNS)[2]]
    store.loaded.clear()
    _check(steps.step_facts(tmp_path, list(RUNS), store.load))
    assert store.loaded == []


def test_a_damaged_entry_is_loaded_from_the_store_again(tmp_path: Path) -> None:
    for run_id, run in RUNS.items():
        steps.remember(tmp_path, {run_id: run})
    memo = tmp_path / steps.NAME
    data = memo.read_bytes()
    memo.write_bytes(data.replace(b"step1.py", b"step1\xffpy"))  # not UTF-8 any more
    store = _Store()
    _check(steps.step_facts(tmp_path, list(RUNS), store.load))
    assert store.loaded
