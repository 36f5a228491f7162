"""`checkout` of FORK_MIN small files or more: a forked process writes the second half of
each slice, streaming what it wrote back a batch at a time. The workspace must end the
same whether it lives, dies part way or is never made, and in one directory too."""

from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path
from typing import Any

import pytest

from mlvc.forked import FORK_MIN, stream
from mlvc.ids import ObjectId
from mlvc.store.index import Index
from mlvc.store.objectstore import ObjectStore
from mlvc.workspace import batches, materialize
from mlvc.workspace.records import is_temporary
from tests.conftest import Run, added_then_removed, checkout_here

COUNT = FORK_MIN + 400


def _populate(top: Path, dirs: int) -> dict[str, bytes]:
    rng = random.Random(11)
    contents = {}
    for n in range(COUNT):
        rel = f"data/d{n % dirs:02}/f{n:05}.bin"
        contents[rel] = rng.randbytes(rng.randint(0, 2000))
        path = top / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(contents[rel])
    return contents


def _added(workspace: Path, dirs: int) -> tuple[dict[str, bytes], ObjectId]:
    contents = _populate(workspace, dirs)
    return contents, added_then_removed(workspace)


def _checkout(workspace: Path, run_id: ObjectId) -> None:
    checkout_here(workspace, run_id)


def _check(mlvc: Run, workspace: Path, contents: dict[str, bytes]) -> None:
    for rel, data in contents.items():
        assert (workspace / rel).read_bytes() == data
    found = [name for _, _, names in os.walk(workspace / "data") for name in names]
    assert len(found) == len(contents)
    assert not any(is_temporary(name) for name in found)
    assert json.loads(mlvc("status", "--json").stdout)["clean"] is True


def _counting_takes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    taken: list[int] = []
    real = stream

    def counted(here: Any, there: Any, take: Any, die_with_parent: bool = False) -> Any:
        def counting(rows: Any) -> None:
            taken.append(len(rows))
            take(rows)

        return real(here, there, counting, die_with_parent)

    monkeypatch.setattr(batches, "stream", counted)
    return taken


def test_checkout_of_many_files_in_one_directory(mlvc: Run, workspace: Path) -> None:
    """Both processes write into the same directory: their temporary names never meet."""
    contents, run_id = _added(workspace, dirs=1)
    mlvc("checkout", run_id.hex())
    _check(mlvc, workspace, contents)


def test_the_writer_process_streams_what_it_wrote(
    mlvc: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents, run_id = _added(workspace, dirs=7)
    monkeypatch.setattr(batches, "BATCH", 100)
    taken = _counting_takes(monkeypatch)
    _checkout(workspace, run_id)
    assert len(taken) > 10 and max(taken) == 100
    assert sum(taken) == COUNT - COUNT // 2
    _check(mlvc, workspace, contents)


def test_a_writer_killed_mid_stream_leaves_the_rest_to_the_parent(
    mlvc: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents, run_id = _added(workspace, dirs=7)
    monkeypatch.setattr(batches, "BATCH", 100)
    taken = _counting_takes(monkeypatch)
    real = materialize.Materializer._forked_write

    def killed(self: materialize.Materializer, wants: list[Any]) -> Any:
        work = real(self, wants[:200])  # two batches, then SIGKILL

        def then_die(send: Any) -> None:
            work(send)
            os.kill(os.getpid(), signal.SIGKILL)

        return then_die

    monkeypatch.setattr(materialize.Materializer, "_forked_write", killed)
    _checkout(workspace, run_id)
    assert taken == [100, 100]
    _check(mlvc, workspace, contents)


def test_slices_look_up_a_bounded_number_of_locations(
    mlvc: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Locations are looked up SLICE files at a time and forgotten after each slice. The
    first slice's are looked up before the checkout asks what is here: they answer that
    question too, and are not asked again."""
    contents, run_id = _added(workspace, dirs=3)
    monkeypatch.setattr(batches, "SLICE", 1000)
    located: list[list[bytes]] = []
    kinds_asked: set[bytes] = set()
    held: list[int] = []
    locate_many, kinds, prefetch = Index.locate_many, Index.kinds, ObjectStore.prefetch

    def counted(self: Any, oids: list[bytes]) -> Any:
        located.append(oids)
        return locate_many(self, oids)

    def asked(self: Any, oids: list[bytes]) -> Any:
        kinds_asked.update(oids)
        return kinds(self, oids)

    def bounded(self: Any, oids: list[bytes]) -> None:
        prefetch(self, oids)
        held.append(len(self._known))

    monkeypatch.setattr(Index, "locate_many", counted)
    monkeypatch.setattr(Index, "kinds", asked)
    monkeypatch.setattr(ObjectStore, "prefetch", bounded)
    _checkout(workspace, run_id)
    assert max(held) <= 1000, "more than a slice of locations held at once"
    sizes = [len(oids) for oids in located]
    assert max(sizes) == 1000 and sum(sizes) == COUNT, "a file's place was looked up twice"
    assert not set(located[0]) & kinds_asked, "the first slice was asked of the index twice"
    _check(mlvc, workspace, contents)
