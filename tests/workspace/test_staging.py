"""A checkout that creates a directory builds it aside under a temporary name and renames
it into place whole (workspace/staging.py): nothing of it shows until every file is
written, a directory made meanwhile is never replaced, a symlink swapped in is never
written through, and a killed checkout's stand-in is hidden and then removed."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from mlvc.errors import MlvcError
from mlvc.ids import ObjectId
from mlvc.workspace.ignore import CHECKOUT_TEMP_PREFIX
from mlvc.workspace.materialize import Materializer
from tests.conftest import Run, added_then_removed, checkout_here

FILL = Materializer._fill


def _added(workspace: Path) -> tuple[dict[str, bytes], ObjectId]:
    contents = {f"data/d{n % 3}/f{n:02}.bin": os.urandom(100 + n) for n in range(30)}
    contents["data/d0/deeper/f.bin"] = b"one level further down\n"
    for rel, data in contents.items():
        (workspace / rel).parent.mkdir(parents=True, exist_ok=True)
        (workspace / rel).write_bytes(data)
    os.chmod(workspace / "data/d0/f00.bin", 0o755)
    return contents, added_then_removed(workspace)


def _files(workspace: Path) -> dict[str, bytes]:
    top = workspace / "data"
    return {str(p.relative_to(workspace)): p.read_bytes() for p in top.rglob("*") if p.is_file()}


def _stand_ins(workspace: Path) -> list[Path]:
    return [p for p in workspace.rglob(f"{CHECKOUT_TEMP_PREFIX}*") if ".mlvc" not in p.parts]


def _after_fill(monkeypatch: pytest.MonkeyPatch, then: Any) -> None:
    def fill(self: Any, out: int, want: Any, *args: Any) -> None:
        FILL(self, out, want, *args)
        then(want.path)

    monkeypatch.setattr(Materializer, "_fill", fill)


def test_a_new_directory_appears_whole_with_its_modes(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, mlvc: Run
) -> None:
    contents, run_id = _added(workspace)
    seen: list[tuple[bool, int]] = []

    def look(_: str) -> None:
        seen.append(((workspace / "data").exists(), len(_stand_ins(workspace))))

    _after_fill(monkeypatch, look)
    checkout_here(workspace, run_id)
    assert len(seen) == len(contents)
    assert seen == [(False, 1)] * len(contents), "a file showed before its directory was whole"
    assert _files(workspace) == contents
    assert os.stat(workspace / "data/d0/f00.bin").st_mode & 0o111
    assert not os.stat(workspace / "data/d1/f01.bin").st_mode & 0o111
    assert _stand_ins(workspace) == []
    # The stat rows taken while the files were aside still describe them: nothing to hash.
    assert mlvc("status").stdout.startswith(f"clean: {len(contents)} tracked")


def test_a_directory_made_meanwhile_is_not_replaced(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents, run_id = _added(workspace)

    def someone_writes(path: str) -> None:
        if path == "data/d0/f00.bin" and not (workspace / "data").exists():
            (workspace / "data/d2").mkdir(parents=True)
            (workspace / "data/d2/f02.bin").write_bytes(b"made while the checkout ran\n")
            (workspace / "data/notes.txt").write_bytes(b"someone else's file\n")

    _after_fill(monkeypatch, someone_writes)
    done = checkout_here(workspace, run_id)
    assert (workspace / "data/notes.txt").read_bytes() == b"someone else's file\n"
    # The file made at a path the checkout writes is stored first, then replaced (as
    # anywhere a file appears during a checkout); every other file is written in place.
    assert [s.path for s in done.saved] == ["data/d2/f02.bin"]
    assert {k: v for k, v in _files(workspace).items() if k in contents} == contents
    assert _stand_ins(workspace) == []


def test_a_symlink_swapped_in_for_the_new_directory_is_never_written_through(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, run_id = _added(workspace)
    outside = tmp_path / "outside"
    (outside / "d0").mkdir(parents=True)

    def swap(path: str) -> None:
        with contextlib.suppress(FileExistsError):  # two writer threads: one swaps
            os.symlink(outside, workspace / "data")

    _after_fill(monkeypatch, swap)
    with pytest.raises(MlvcError) as stopped:
        checkout_here(workspace, run_id)
    assert "symbolic link" in stopped.value.message
    assert list(outside.rglob("*")) == [outside / "d0"], "a file was written through the link"
    assert _stand_ins(workspace) == []


def test_a_killed_checkouts_stand_in_is_hidden_then_removed(workspace: Path, mlvc: Run) -> None:
    contents, run_id = _added(workspace)
    child = os.fork()
    if child == 0:  # the checkout, SIGKILLed after its tenth file
        try:
            written = []

            def and_die(path: str) -> None:
                written.append(path)
                if len(written) == 10:
                    os.kill(os.getpid(), signal.SIGKILL)

            def fill(self: Any, out: int, want: Any, *args: Any) -> None:
                FILL(self, out, want, *args)
                and_die(want.path)

            Materializer._fill = fill  # type: ignore[method-assign,assignment]
            checkout_here(workspace, run_id)
        finally:
            os._exit(3)
    _, code = os.waitpid(child, 0)
    assert os.WIFSIGNALED(code) and os.WTERMSIG(code) == signal.SIGKILL
    [stand_in] = _stand_ins(workspace)
    aside = len([p for p in stand_in.rglob("*") if p.is_file()])
    assert 10 <= aside < len(contents)  # the other writer thread may have finished one more
    assert not (workspace / "data").exists()

    status = mlvc("status").stdout
    assert CHECKOUT_TEMP_PREFIX not in status and stand_in.name not in status
    deleted = [line for line in status.splitlines() if line.startswith("  deleted: ")]
    assert len(deleted) == len(contents), status

    checkout_here(workspace, run_id)
    assert _files(workspace) == contents
    assert _stand_ins(workspace) == []


def test_only_the_missing_directories_are_built_aside(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents, run_id = _added(workspace)
    (workspace / "data/d1").mkdir(parents=True)  # data and d1 are there, d0 and d2 are not
    aside: set[str] = set()

    def look(path: str) -> None:
        aside.update(p.name for p in (workspace / "data").iterdir() if p.name.startswith("."))

    _after_fill(monkeypatch, look)
    checkout_here(workspace, run_id)
    assert len(aside) == 2  # one stand-in for d0 (with d0/deeper inside it), one for d2
    assert _files(workspace) == contents
    assert _stand_ins(workspace) == []


def test_a_file_put_in_the_claimed_name_before_the_rename_is_kept(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new directory's name is claimed with an empty directory, then the stand-in is
    renamed over it: a file someone puts in the claimed directory in between stops the
    rename, and is kept."""
    contents, run_id = _added(workspace)
    rename = os.rename

    def someone_first(src: Any, dst: Any, **kwargs: Any) -> None:
        if dst == "data":
            (workspace / "data" / "notes.txt").write_bytes(b"someone's\n")
        rename(src, dst, **kwargs)

    monkeypatch.setattr(os, "rename", someone_first)
    checkout_here(workspace, run_id)
    assert (workspace / "data" / "notes.txt").read_bytes() == b"someone's\n"
    assert {k: v for k, v in _files(workspace).items() if k in contents} == contents
    assert _stand_ins(workspace) == []
