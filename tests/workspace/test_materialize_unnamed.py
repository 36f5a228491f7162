"""Files where the plan found nothing, in a directory that exists, are written as unnamed
inodes (`O_TMPFILE`) and linked under their names once whole; a file that appears there
meanwhile is kept, and a file system without unnamed inodes gets the temporary names
instead. (A directory the checkout creates is built aside: tests/workspace/test_staging.py.)"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from mlvc.ids import ObjectId
from mlvc.porcelain.checkout import CheckoutResult
from mlvc.workspace import materialize
from tests.conftest import added_then_removed, checkout_here


def _added(workspace: Path) -> tuple[dict[str, bytes], ObjectId]:
    contents = {f"data/d{n % 3}/f{n:02}.bin": os.urandom(100 + n) for n in range(30)}
    for rel, data in contents.items():
        (workspace / rel).parent.mkdir(parents=True, exist_ok=True)
        (workspace / rel).write_bytes(data)
    os.chmod(workspace / "data/d0/f00.bin", 0o755)
    run_id = added_then_removed(workspace)
    for n in range(3):  # the directories stay, empty: their files are new, they are not
        (workspace / f"data/d{n}").mkdir(parents=True)
    return contents, run_id


def _checkout(workspace: Path, run_id: ObjectId) -> CheckoutResult:
    return checkout_here(workspace, run_id)


def _files(workspace: Path) -> dict[str, bytes]:
    top = workspace / "data"
    return {str(p.relative_to(workspace)): p.read_bytes() for p in top.rglob("*") if p.is_file()}


def test_new_files_are_linked_whole_with_their_modes(workspace: Path) -> None:
    contents, run_id = _added(workspace)
    _checkout(workspace, run_id)
    assert _files(workspace) == contents  # and no temporary name left beside them
    assert os.stat(workspace / "data/d0/f00.bin").st_mode & 0o111
    assert not os.stat(workspace / "data/d1/f01.bin").st_mode & 0o111


def test_without_unnamed_inodes_temporary_names_are_used(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents, run_id = _added(workspace)
    real_open, refused = os.open, []

    def no_tmpfile(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_TMPFILE == os.O_TMPFILE:
            refused.append(path)
            raise OSError(errno.EOPNOTSUPP, "not supported")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_tmpfile)
    _checkout(workspace, run_id)
    assert _files(workspace) == contents
    assert len(refused) == 1  # asked once, then the temporary names throughout


def test_a_file_created_meanwhile_is_kept_not_replaced(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents, run_id = _added(workspace)
    fill = materialize.Materializer._fill
    mine = workspace / "data/d2/f02.bin"

    def and_a_user_writes(self: Any, out: int, want: Any, *args: Any) -> None:
        fill(self, out, want, *args)
        if want.path == "data/d2/f02.bin":
            mine.write_bytes(b"written by someone while the checkout ran\n")

    monkeypatch.setattr(materialize.Materializer, "_fill", and_a_user_writes)
    done = _checkout(workspace, run_id)
    assert mine.read_bytes() == b"written by someone while the checkout ran\n"
    assert "data/d2/f02.bin" in done.kept
    del contents["data/d2/f02.bin"]
    assert {k: v for k, v in _files(workspace).items() if k in contents} == contents
