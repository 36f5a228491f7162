"""`add` of FORK_MIN small files or more: a forked process reads, hashes and encodes the
second half. What is stored must not depend on it."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import blake3
import pytest

from mlvc.forked import FORK_MIN, Forked, stream
from mlvc.porcelain.add import add
from mlvc.repo import Repo
from mlvc.workspace import intake as snapshot
from tests.conftest import MLVC, Run, init_store


def _populate(top: Path) -> dict[str, bytes]:
    """4,200 small files in 21 directories: random bytes, and text that zstd shrinks."""
    rng = random.Random(7)
    contents = {}
    for d in range(21):
        for f in range(200):
            if f % 2:
                data = rng.randbytes(rng.randint(0, 3000))
            else:
                data = (f"row {d},{f},{'x' * (f % 50)}\n" * rng.randint(1, 60)).encode()
            rel = f"data/d{d:02}/f{f:03}.txt"
            path = top / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            contents[rel] = data
    assert len(contents) >= FORK_MIN
    return contents


def _add_in_process(workspace: Path) -> str:
    repo = Repo.init(workspace)
    try:
        result = add(repo, [Path("data")], workspace, {"user": "t"})
    finally:
        repo.close()
    oid = result.paths[0].id
    assert oid is not None
    return oid.hex()


@pytest.fixture(scope="module")
def unforked(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The id of the tree an `add` of `_populate`'s files stores in one process (no fork
    at any count): what every test here compares the forked add's tree with. Built once
    for the module; it is the same for every test, `_populate` being seeded."""
    alone = tmp_path_factory.mktemp("unforked")
    _populate(alone)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(snapshot, "FORK_MIN", 10**9)
        return _add_in_process(alone)


def test_add_of_many_files_stores_every_byte(mlvc: Run, workspace: Path, unforked: str) -> None:
    contents = _populate(workspace)
    init_store(workspace)
    added = json.loads(mlvc("add", "data", "--json").stdout)
    tree = added["paths"][0]["id"]
    assert added["files"] == len(contents)
    assert json.loads(mlvc("status", "--json").stdout)["clean"] is True
    for rel in ("data/d00/f000.txt", "data/d20/f199.txt", "data/d13/f042.txt"):
        oid = blake3.blake3(contents[rel]).hexdigest()
        shown = subprocess.run(
            [MLVC, "cat-object", oid], cwd=workspace, capture_output=True, check=True
        )
        assert shown.stdout == contents[rel]
    shutil.rmtree(workspace / "data")
    mlvc("checkout", "latest:data")
    for rel, data in contents.items():
        assert (workspace / rel).read_bytes() == data

    assert tree == unforked


def test_a_dead_reader_process_is_replaced_by_the_parent(
    workspace: Path, unforked: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _populate(workspace)
    start = Forked.start
    calls = []

    def dying(work: object, die_with_parent: bool = False) -> Forked | None:
        calls.append(work)
        return start(lambda send: os._exit(9))

    monkeypatch.setattr(Forked, "start", dying)
    shared = _add_in_process(workspace)
    assert len(calls) == 1
    assert shared == unforked


def test_no_process_to_be_had(
    workspace: Path, unforked: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fork() failing (a process or memory limit): the parent reads every file itself."""
    import errno

    _populate(workspace)

    def no_fork() -> int:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    shared = _add_in_process(workspace)
    assert shared == unforked


def _counting_takes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of files in each batch the parent takes from the forked reader."""
    taken: list[int] = []
    real = stream

    def counted(here: Any, there: Any, take: Any, die_with_parent: bool = False) -> Any:
        def counting(sent: Any) -> None:
            taken.append(len(sent[1]))
            take(sent)

        return real(here, there, counting, die_with_parent)

    monkeypatch.setattr(snapshot, "stream", counted)
    return taken


def test_the_reader_process_streams_its_share_in_batches(
    workspace: Path, unforked: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its share comes back SEND files at a time, each stored as it comes, not as one
    reply holding the content of half the files; what is stored is the same."""
    contents = _populate(workspace)
    monkeypatch.setattr(snapshot, "SEND", 50)
    taken = _counting_takes(monkeypatch)
    shared = _add_in_process(workspace)
    assert sum(taken) == len(contents) - len(contents) // 2
    assert len(taken) > 10 and max(taken) == 50
    assert shared == unforked


def test_a_reader_killed_mid_stream_loses_nothing(
    mlvc: Run, workspace: Path, unforked: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batches it sent whole are stored; the parent reads the rest; the store then
    holds every file and fsck finds nothing wrong."""
    contents = _populate(workspace)
    monkeypatch.setattr(snapshot, "SEND", 100)
    taken = _counting_takes(monkeypatch)
    real = snapshot._send_encoded

    def killed(paths: list[str], send: Any) -> None:
        real(paths[:300], send)  # three batches, then SIGKILL
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(snapshot, "_send_encoded", killed)
    shared = _add_in_process(workspace)
    assert taken == [100, 100, 100]
    report = mlvc("fsck", "--json")
    assert json.loads(report.stdout)["problems"] == []
    assert json.loads(mlvc("status", "--json").stdout)["clean"] is True
    shutil.rmtree(workspace / "data")
    mlvc("checkout", "latest:data")
    for rel, data in contents.items():
        assert (workspace / rel).read_bytes() == data
    assert shared == unforked
