"""`store/index.py` and `store/history.py` directly, over a real SQLite file: object
locations, the stat cache, tracked paths, transactions, and the lineage queries' order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvc.ids import Kind, ObjectId
from mlvc.objects import PathRecord, Run
from mlvc.store.db import connect
from mlvc.store.entry import Entry
from mlvc.store.index import Index, StatRow, TrackedFile
from mlvc.store.rowdiff import InPathOrder
from mlvc.store.runfacts import RunFilter


def oid(n: int) -> ObjectId:
    return ObjectId(bytes([n]) * 32)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    path = tmp_path / "index.db"
    opened = Index(path, connect(path, create=True))
    yield opened
    opened.close()


def _entry(n: int, offset: int) -> Entry:
    return Entry(oid(n), Kind.CHUNK, 0, offset, 10, 10, b"\0" * 8)


def test_locations_are_found_one_or_many_and_the_first_wins(index: Index) -> None:
    with index.transaction():
        index.add_pack("a" * 64, [_entry(1, 8), _entry(2, 18)])
        index.add_pack("b" * 64, [_entry(2, 8), _entry(3, 8)])  # 2 again: kept where it was
    assert index.locate(oid(2)).pack == "a" * 64
    many = index.locate_many([oid(1), oid(3), oid(9), oid(1)])
    assert {k: v.pack for k, v in many.items()} == {oid(1): "a" * 64, oid(3): "b" * 64}
    assert index.missing([oid(1), oid(9)]) == {oid(9)}
    assert index.with_prefix(bytes([2]), bytes([2]) + b"\xff" * 31, 10) == [oid(2)]
    assert index.count_objects() == 3


def test_a_failed_transaction_leaves_nothing(index: Index) -> None:
    with pytest.raises(RuntimeError), index.transaction():
        index.add_pack("a" * 64, [_entry(1, 8)])
        raise RuntimeError("interrupted")
    assert index.locate(oid(1)) is None
    with index.transaction():  # and the connection is usable again
        index.add_pack("a" * 64, [_entry(1, 8)])
    assert index.has(oid(1))


def test_stat_rows_and_tracked_paths_round_trip(index: Index) -> None:
    row = StatRow(5, 1_000, 7, oid(4), 2_000, 1_500)
    with index.transaction():
        index.put_stat_rows([("data/a.csv", row)])
        index.replace_tracked("data", [TrackedFile("data/a.csv", "data", oid(4), "file", 5)])
    assert index.stat_rows() == {"data/a.csv": row}
    assert index.is_tracked("data") and index.is_tracked("data/a.csv")
    assert index.tracked_entry("data/a.csv") == (oid(4), "file")
    with index.transaction():
        index.replace_tracked("data", [])
    assert not index.is_tracked("data")


def _run(index: Index, n: int, started: str, outputs: dict[str, int]) -> None:
    run = Run(
        kind="run",
        started=started,
        ended=started,
        status="ok",
        outputs={p: PathRecord(oid(v), "file", 1) for p, v in outputs.items()},
    )
    index.add_run_rows(oid(n), run, {})


def test_history_orders_by_start_time_not_insertion(index: Index) -> None:
    with index.transaction():
        _run(index, 20, "2026-01-02T00:00:00.000000Z", {"model.pt": 2})
        _run(index, 10, "2026-01-01T00:00:00.000000Z", {"model.pt": 1})
    history = index.history
    assert [v.run for v in history.versions("model.pt")] == [oid(20), oid(10)]
    assert [v.run for v in history.versions_oldest_first("model.pt")] == [oid(10), oid(20)]
    assert history.nth_latest(0) == oid(20) and history.nth_latest(2) is None
    assert history.latest_writer("model.pt") == oid(20)
    assert history.writer_of(oid(1), "model.pt") == oid(10)
    assert history.writer_of(oid(2), "model.pt", until=oid(10)) is None
    assert history.writer_of(oid(1), "elsewhere.pt") is None  # a copy is not the producer
    assert history.is_recorded("model.pt") and not history.is_recorded("other")


def test_the_writers_of_many_pairs_are_each_pairs_writer_of(index: Index) -> None:
    """One query per 500 paths answers what a query per pair did: the newest mainline
    writer of that content at that path, a reproduction only where no run wrote it."""
    with index.transaction():
        _run(index, 10, "2026-01-01T00:00:00.000000Z", {"model.pt": 1, "a.csv": 5})
        _run(index, 20, "2026-01-02T00:00:00.000000Z", {"model.pt": 2})
        _run(index, 30, "2026-01-03T00:00:00.000000Z", {"model.pt": 1})  # 1 again, later
        reproduction = Run(
            kind="run",
            started="2026-01-04T00:00:00.000000Z",
            ended="2026-01-04T00:00:00.000000Z",
            status="ok",
            outputs={
                "b.csv": PathRecord(oid(6), "file", 1),
                "model.pt": PathRecord(oid(2), "file", 1),
            },
            reproduces=oid(20),
        )
        index.add_run_rows(oid(40), reproduction, {})
    history = index.history
    pairs = [
        (oid(o), p)
        for o in range(1, 8)
        for p in ("model.pt", "a.csv", "b.csv", "elsewhere.pt", *(f"x{i}" for i in range(600)))
    ]
    expected = {pair: w for pair in pairs if (w := history.writer_of(*pair)) is not None}
    assert history.writers_of(pairs) == expected
    assert expected == {
        (oid(1), "model.pt"): oid(30),
        (oid(2), "model.pt"): oid(20),  # the reproduction only repeated it
        (oid(5), "a.csv"): oid(10),
        (oid(6), "b.csv"): oid(40),  # nothing else wrote it
    }


def test_run_facts_hold_what_a_run_table_shows_and_go_with_the_run(index: Index) -> None:
    run = Run(
        kind="run",
        started="2026-01-01T00:00:00.000000Z",
        ended="2026-01-01T00:00:02.500000Z",
        status="failed",
        command=("python", "train.py"),
        exit_code=2,
        params={"train.n_est": 80, "name": "[red]x"},
        metrics={"acc": 0.5},
    )
    with index.transaction():
        index.add_run_rows(oid(1), run, {})
    (facts,) = index.history.run_facts(RunFilter(ok_only=False))
    assert facts.command == ["python", "train.py"] and facts.exit_code == 2
    assert facts.params == run.params and facts.metrics == run.metrics
    assert facts.ended == run.ended and facts.status == "failed"
    assert index.history.run_facts(RunFilter()) == []  # ok runs only
    with index.transaction():
        index.forget_runs([oid(1)])
    assert index.db.execute("SELECT count(*) FROM run_facts").fetchone()[0] == 0


def test_run_facts_table_comes_back_after_a_rolled_back_first_write(index: Index) -> None:
    """An index made before run_facts: the table is made by the transaction that first
    records a run; rolled back, the next transaction makes it again."""
    index.db.execute("DROP TABLE run_facts")
    run = Run(kind="run", started="2026-01-01T00:00:00.000000Z", ended="", status="ok")
    with pytest.raises(RuntimeError), index.transaction():
        index.add_run_rows(oid(1), run, {})
        raise RuntimeError("interrupted")
    with index.transaction():
        index.add_run_rows(oid(2), run, {})
    assert [f.id for f in index.history.run_facts(RunFilter())] == [oid(2)]


def _index_names(index: Index) -> set[str]:
    rows = index.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    return {row[0] for row in rows}


def test_an_older_index_gets_the_lineage_indexes_with_its_next_run(tmp_path: Path) -> None:
    """Made by `init` and `index rebuild` (the schema), and by the first run an index
    made before them records: without them, who read a path, a command's earlier runs
    and the reproductions are found by reading every run."""
    path = tmp_path / "index.db"
    old = Index(path, connect(path, create=True))
    lineage = {"inputs_path", "run_facts_command", "runs_reproductions"}
    assert lineage <= _index_names(old)
    old.db.execute("DROP INDEX inputs_path")
    old.db.execute("DROP INDEX run_facts_command")
    old.db.execute("DROP INDEX runs_reproductions")
    old.close()
    index = Index(path)
    try:
        with index.transaction():
            _run(index, 1, "2026-01-01T00:00:00.000000Z", {"model.pt": 1})
        assert lineage <= _index_names(index)
        uses = {
            "inputs_path": "SELECT seq FROM inputs WHERE path = 'x'",
            "run_facts_command": "SELECT seq FROM run_facts WHERE command = x'90'",
            "runs_reproductions": "SELECT id FROM runs WHERE kind = 'reproduction'"
            " ORDER BY started, id",
        }
        for name, query in uses.items():
            plan = index.db.execute(f"EXPLAIN QUERY PLAN {query}").fetchall()
            assert name in str(plan)
    finally:
        index.close()


def test_facts_are_complete_only_when_every_run_has_its_row(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    index = Index(path, connect(path, create=True))
    assert index.history.facts_complete()  # no run yet
    with index.transaction():
        _run(index, 1, "2026-01-01T00:00:00.000000Z", {"model.pt": 1})
    assert index.history.facts_complete()
    index.db.execute("DROP TABLE run_facts")  # as an index made before the table
    assert not index.history.facts_complete()
    index.close()
    index = Index(path)
    try:
        with index.transaction():  # the table again, with no row of the run above
            index.forget_runs([oid(9)])
        assert not index.history.facts_complete()
        with index.transaction():
            _run(index, 2, "2026-01-02T00:00:00.000000Z", {"model.pt": 2})
        assert not index.history.facts_complete()
    finally:
        index.close()


_names = st.text(alphabet="ab/-", min_size=1, max_size=3)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    outputs=st.dictionaries(_names, st.integers(1, 3), min_size=1, max_size=3),
    inside=st.lists(st.tuples(_names, st.integers(4, 6)), max_size=8),
    removed=st.lists(_names, max_size=2, unique=True),
    ordered=st.booleans(),
)
def test_path_versions_are_what_a_stable_sort_of_every_row_gives(
    tmp_path_factory: pytest.TempPathFactory,
    outputs: dict[str, int],
    inside: list[tuple[str, int]],
    removed: list[str],
    ordered: bool,
) -> None:
    """A run's path versions are merged in path order, never held at once (an `add` of a
    million files gives them `InPathOrder`): of a path given twice the last wins, as in a
    stable sort of the outputs' own rows, then the files inside each output, then the
    removed paths."""
    first = next(iter(outputs))
    files = [(f"{first}/{name}", oid(n), "file", n) for name, n in inside]
    if ordered:
        files.sort(key=lambda r: r[0])
    rows: Any = InPathOrder(files) if ordered else files
    run = Run(
        kind="run",
        started="2026-01-01T00:00:00.000000Z",
        ended="2026-01-01T00:00:01.000000Z",
        status="ok",
        outputs={p: PathRecord(oid(v), "file", v) for p, v in outputs.items()},
        removed=tuple(removed),
    )
    path = tmp_path_factory.mktemp("versions") / "index.db"
    index = Index(path, connect(path, create=True))
    try:
        with index.transaction():
            index.add_run_rows(oid(9), run, {first: rows})
        got = dict(index.db.execute("SELECT path, id FROM path_versions").fetchall())
    finally:
        index.close()
    every = [(p, oid(v)) for p, v in outputs.items()]
    every += [
        (p, i) for p, i, _, _ in (files if not ordered else sorted(files, key=lambda r: r[0]))
    ]
    every += [(p, b"") for p in removed]
    expected = {p: i for p, i in sorted(every, key=lambda r: r[0])}
    assert got == expected


def test_ids_not_shown_to_be_chunks_held_come_back_a_query_s_worth_at_a_time(
    index: Index,
) -> None:
    """`not_all_chunks`: a query of 500 ids that are all chunks held (an id given twice
    counts once) returns nothing; a query with an id missing or of another kind returns
    its 500 ids, for the caller's closer look."""
    ids = [ObjectId(n.to_bytes(4, "big") * 8) for n in range(1, 1301)]
    entries = [Entry(i, Kind.CHUNK, 0, 16 * n, 10, 10, b"\0" * 8) for n, i in enumerate(ids)]
    with index.transaction():
        index.add_pack("a" * 64, entries)
    assert index.not_all_chunks(ids + ids[:300]) == []  # repeats: 1,600 ids, 4 queries
    in_order = sorted(ids)
    absent = ObjectId(b"\xff" * 32)  # sorts last: the third query's
    assert index.not_all_chunks([absent, *ids]) == [*in_order[1000:], absent]
    with index.transaction():  # a manifest among the first query's ids
        index.db.execute(
            "UPDATE objects SET kind = ? WHERE id = ?", (int(Kind.MANIFEST), in_order[7])
        )
    assert index.not_all_chunks(ids) == in_order[:500]
