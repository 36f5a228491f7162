"""`status` over FORK_MIN tracked files or more: a forked process walks half of the
directories. Its findings must be the same as a walk in one process."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mlvc import forked
from mlvc.forked import Forked
from mlvc.porcelain import status as status_mod
from mlvc.repo import Repo
from tests.conftest import Run, init_store

DIRS = 24
PER_DIR = 180  # 4,320 files: above FORK_MIN


def _populate(workspace: Path) -> None:
    assert DIRS * PER_DIR >= forked.FORK_MIN
    for d in range(DIRS):
        folder = workspace / "data" / f"d{d:02}"
        folder.mkdir(parents=True)
        for f in range(PER_DIR):
            (folder / f"f{f:03}.txt").write_text(f"{d}/{f}\n")


def _edit(workspace: Path) -> list[dict[str, str]]:
    """Changes in every other directory and its neighbours, so both processes find some."""
    data = workspace / "data"
    expected = []
    for d in range(DIRS):
        folder = data / f"d{d:02}"
        if d % 3 == 0:
            (folder / "f000.txt").write_text("edited\n")
            expected.append({"path": f"data/d{d:02}/f000.txt", "state": "modified"})
        if d % 4 == 1:
            (folder / "f001.txt").unlink()
            expected.append({"path": f"data/d{d:02}/f001.txt", "state": "deleted"})
        if d % 5 == 2:
            (folder / "new.txt").write_text("new\n")
            (folder / "skip.pyc").write_bytes(b"ignored by default")
            expected.append({"path": f"data/d{d:02}/new.txt", "state": "new"})
        if d == 7:  # a tracked file replaced by a directory holding a new file
            (folder / "f002.txt").unlink()
            (folder / "f002.txt").mkdir()
            (folder / "f002.txt" / "inner.txt").write_text("inner\n")
            expected.append({"path": f"data/d{d:02}/f002.txt", "state": "deleted"})
            expected.append({"path": f"data/d{d:02}/f002.txt/inner.txt", "state": "new"})
    shutil.rmtree(data / "d23")  # a whole directory gone
    expected += [{"path": f"data/d23/f{f:03}.txt", "state": "deleted"} for f in range(PER_DIR)]
    return sorted(expected, key=lambda c: c["path"])


def test_status_of_many_files_finds_every_change(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    _populate(workspace)
    mlvc("add", "data")
    assert json.loads(mlvc("status", "--json").stdout)["clean"] is True
    expected = _edit(workspace)
    report = json.loads(mlvc("status", "--json").stdout)
    assert report["changes"] == expected
    assert report["clean"] is False


def test_the_two_process_walk_equals_the_one_process_walk(
    mlvc: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_store(workspace)
    _populate(workspace)
    mlvc("add", "data")
    _edit(workspace)
    forks = []
    start = Forked.start

    def counted(*args: object, **kwargs: object) -> Forked | None:
        forks.append(1)
        return start(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Forked, "start", counted)
    repo = Repo.discover(workspace)
    try:
        shared = status_mod.status(repo)
        assert forks == [1]
        monkeypatch.setattr(forked, "FORK_MIN", 10**9)
        alone = status_mod.status(repo)
    finally:
        repo.close()
    assert forks == [1]
    assert shared == alone
    assert len(shared.changes) > DIRS


def test_a_dead_walker_process_is_replaced_by_the_parent(
    mlvc: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forked walker that dies without replying: the parent walks its share itself."""
    init_store(workspace)
    _populate(workspace)
    mlvc("add", "data")
    expected = _edit(workspace)
    start = Forked.start

    def dying(work: object, die_with_parent: bool = False) -> Forked | None:
        return start(lambda send: os._exit(9))

    monkeypatch.setattr(Forked, "start", dying)
    assert _changes(workspace) == expected


def test_a_tracked_directory_replaced_by_a_symlink(mlvc: Run, workspace: Path) -> None:
    """Directories are opened without following symlinks: a tracked directory that is
    now a symlink (here to a copy of itself) has lost its tracked files."""
    init_store(workspace)
    (workspace / "data" / "sub").mkdir(parents=True)
    (workspace / "data" / "sub" / "a.txt").write_text("a\n")
    mlvc("add", "data")
    shutil.copytree(workspace / "data" / "sub", workspace / "elsewhere")
    shutil.rmtree(workspace / "data" / "sub")
    (workspace / "data" / "sub").symlink_to(workspace / "elsewhere")
    changes = json.loads(mlvc("status", "--json").stdout)["changes"]
    assert {"path": "data/sub/a.txt", "state": "deleted"} in changes


def test_no_process_to_be_had(mlvc: Run, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fork() failing (a process or memory limit): the parent walks everything itself."""
    import errno

    init_store(workspace)
    _populate(workspace)
    mlvc("add", "data")
    expected = _edit(workspace)

    def no_fork() -> int:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    assert _changes(workspace) == expected


def _changes(workspace: Path) -> list[dict[str, str]]:
    """`status` run in this process (so that a test can patch it), as --json lists it."""
    repo = Repo.discover(workspace)
    try:
        result = status_mod.status(repo)
    finally:
        repo.close()
    return [{"path": c.path, "state": c.state} for c in result.changes]
