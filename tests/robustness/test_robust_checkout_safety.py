"""`mlvc checkout` never writes or deletes outside the workspace, never overwrites an edit
made while it runs, and says what state a failed checkout left.

Symlinked directories: every write and removal goes through directory descriptors opened
without following a symlink (`mlvc.workspace.dirs`), so a link is refused by name, even
one swapped in after the checkout was planned; `--follow-symlinks` opts in.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import blake3
import pytest

from mlvc.errors import MlvcError, UnsafePathError
from mlvc.ids import ObjectId
from mlvc.porcelain.add import add as lib_add
from mlvc.repo import Repo
from mlvc.workspace.dirs import SymlinkedDirectoryError, WorkspaceDirs
from mlvc.workspace.ignore import CHECKOUT_TEMP_PREFIX
from mlvc.workspace.materialize import Materializer
from mlvc.workspace.records import RecordedFile
from tests.conftest import init_store

OWNER = {"user": "robustness"}
MIB = 1 << 20


def _record(repo: Repo, workspace: Path, files: dict[str, bytes]) -> bytes:
    for name, data in files.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    roots = sorted({name.split("/")[0] for name in files})
    result = lib_add(repo, [Path(r) for r in roots], workspace, OWNER)
    assert result.run_id is not None, "nothing changed: the test data must differ"
    return result.run_id


def _tree(root: Path) -> dict[str, bytes]:
    """path -> bytes of every file below `root` (symlinks as their target)."""
    found = {}
    for top, _, files in os.walk(root):
        for name in files:
            full = Path(top) / name
            rel = str(full.relative_to(root))
            found[rel] = os.fsencode(os.readlink(full)) if full.is_symlink() else full.read_bytes()
    return found


# -- symlinked directories ---------------------------------------------------------------


def test_checkout_never_deletes_through_a_symlinked_data_directory(
    repo: Repo, workspace: Path, tmp_path: Path, cli
) -> None:
    """The reported case: a data directory moved to a big disk and replaced by a link."""
    data = workspace / "data"
    data.mkdir()
    (data / "old.csv").write_text("old\n")
    (data / "keep.csv").write_text("k\n")
    cli("add", "data").ok()
    cli("run", "--", sys.executable, "-c", "import os; os.remove('data/old.csv')").ok()
    run = json.loads(cli("log", "--json").ok().stdout)["runs"][0]["id"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data.rename(elsewhere / "data")
    data.symlink_to(elsewhere / "data")
    (elsewhere / "data" / "old.csv").write_text("team\n")

    cli("checkout", run).clean_error("data is a symbolic link", "--follow-symlinks")
    assert (elsewhere / "data" / "old.csv").read_text() == "team\n"

    (elsewhere / "data" / "old.csv").unlink()
    (elsewhere / "data" / "old.csv" / "sub").mkdir(parents=True)
    (elsewhere / "data" / "old.csv" / "sub" / "work").write_text("precious\n")
    cli("checkout", run, "--force").clean_error("data is a symbolic link")
    assert (elsewhere / "data" / "old.csv" / "sub" / "work").read_text() == "precious\n"
    assert data.is_symlink()


def _stored(repo: Repo, workspace: Path, data: bytes) -> RecordedFile:
    _record(repo, workspace, {"src/x": data})
    oid = ObjectId(blake3.blake3(data).digest())
    return RecordedFile("d/x", "file", oid, len(data), False, "d/x")


def test_a_symlink_swapped_in_after_planning_is_never_written_through(
    repo: Repo, workspace: Path, tmp_path: Path
) -> None:
    """The writer itself refuses: a link made between plan and write is not a door."""
    want = _stored(repo, workspace, b"recorded\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "y").write_text("outside y\n")
    (workspace / "d").symlink_to(outside)
    writer = Materializer(repo.store, workspace, tmp_path / "scratch")
    writer.prepare()
    try:
        with pytest.raises(SymlinkedDirectoryError, match="d is a symbolic link"):
            writer.write(want)
        with pytest.raises(SymlinkedDirectoryError):
            writer.remove("d/y")
        with pytest.raises(SymlinkedDirectoryError):
            writer.remove("d/y/z")
    finally:
        writer.cleanup()
    assert _tree(outside) == {"y": b"outside y\n"}


def _swap_for_link(workspace: Path, outside: Path) -> None:
    """`d` becomes a symlink to `outside`, which holds a different `d/x`."""
    (workspace / "d").rename(workspace / "d.real")
    (workspace / "d").symlink_to(outside)


@pytest.mark.parametrize("when", ["before saving", "while writing"])
def test_a_symlink_swapped_in_after_planning_is_never_read_into_a_snapshot(
    repo: Repo, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """What a checkout stores before replacing a file (the edit the store lacks, or one
    made while it writes) is read through directory descriptors too: a directory swapped
    for a link to elsewhere between plan and read makes it stop, and nothing from
    outside the workspace enters the store (a snapshot may be pushed and shared)."""
    from mlvc.porcelain import checkout as porcelain

    run_id = _record(repo, workspace, {"d/x": b"recorded\n"})
    (workspace / "d/x").write_bytes(b"an edit the store lacks\n")
    secret = b"outside the workspace\n"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_bytes(secret)
    if when == "before saving":
        real_save = porcelain._save

        def swap_then_save(*args: object, **kwargs: object) -> object:
            _swap_for_link(workspace, outside)
            return real_save(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(porcelain, "_save", swap_then_save)
        request = porcelain.CheckoutRequest(run_id)
    else:  # forced: the edit is not stored first; d/x edited again is found changed
        real_write = Materializer.write_many

        def write_then_swap(self: Materializer, *args: object, **kwargs: object) -> object:
            (workspace / "d/x").write_bytes(b"edited again\n")
            landed = real_write(self, *args, **kwargs)  # type: ignore[arg-type]
            assert landed == [None], "the writer must find d/x changed since the plan"
            _swap_for_link(workspace, outside)
            monkeypatch.setattr(Materializer, "write_many", real_write)
            return landed

        monkeypatch.setattr(Materializer, "write_many", write_then_swap)
        request = porcelain.CheckoutRequest(run_id, force=True)

    if when == "before saving":
        with pytest.raises(MlvcError, match="d is a symbolic link"):
            porcelain.checkout(Repo.discover(workspace), request)
    else:  # the writer's descriptors, opened before the swap, lead to the real directory
        result = porcelain.checkout(Repo.discover(workspace), request)
        edited = blake3.blake3(b"edited again\n").digest()
        assert [(saved.path, saved.id) for saved in result.saved] == [("d/x", edited)]
    assert not Repo.discover(workspace).store.has(ObjectId(blake3.blake3(secret).digest()))
    assert _tree(outside) == {"x": secret}


def test_workspace_dirs_read_nothing_through_a_link(workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_text("outside\n")
    (workspace / "d").symlink_to(outside)
    (workspace / "link").symlink_to(outside / "x")
    dirs = WorkspaceDirs(str(workspace))
    try:
        for read in (dirs.lstat, dirs.open_file, dirs.readlink):
            with pytest.raises(SymlinkedDirectoryError, match="d is a symbolic link"):
                read("d/x")
        with pytest.raises(OSError) as refused:
            dirs.open_file("link")
        assert refused.value.errno == errno.ELOOP
        assert stat.S_ISLNK(dirs.lstat("link").st_mode)
        assert dirs.readlink("link") == str(outside / "x")
        with pytest.raises(FileNotFoundError):
            dirs.lstat("missing/x")
    finally:
        dirs.close()


@pytest.mark.parametrize("path", ["../escape", "a/../../escape", "a/./b", "/abs", "a//b"])
def test_the_writer_refuses_paths_that_leave_the_workspace(
    repo: Repo, workspace: Path, tmp_path: Path, path: str
) -> None:
    want = _stored(repo, workspace, b"recorded\n")._replace(path=path)
    writer = Materializer(repo.store, workspace, workspace / ".mlvc" / "tmp" / "scratch")
    writer.prepare()
    before = sorted(p.name for p in tmp_path.iterdir())
    try:
        with pytest.raises(UnsafePathError):
            writer.write(want)
        with pytest.raises(UnsafePathError):
            writer.remove(path)
    finally:
        writer.cleanup()
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (workspace / "a").exists()


# -- an edit made while checkout writes --------------------------------------------------

_EDITOR = """
import os, sys
directory, target, prefix, finished = sys.argv[1:5]
while not any(n.startswith(prefix) for n in os.listdir(directory)):
    if os.path.exists(finished):  # the checkout was over before this started looking
        break
with open(target, "wb") as handle:
    handle.write(b"my edit, made while the checkout ran\\n")
"""


def test_an_edit_made_while_checkout_writes_is_never_lost(repo: Repo, workspace: Path, cli) -> None:
    """The editor waits for the checkout's temporary file (the write phase has begun,
    the plan is made), then edits the file about to be replaced. Whichever lands last,
    the edit must survive: in the workspace, or stored first and listed as saved."""
    old, new = os.urandom(48 * MIB), os.urandom(48 * MIB)
    first = _record(repo, workspace, {"m/model.bin": old})
    _record(repo, workspace, {"m/model.bin": new})
    edit = b"my edit, made while the checkout ran\n"

    finished = workspace.parent / "checkout-finished"
    editor = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _EDITOR,
            str(workspace / "m"),
            str(workspace / "m/model.bin"),
            CHECKOUT_TEMP_PREFIX,
            str(finished),
        ]
    )
    result = cli("checkout", "--json", first.hex())
    finished.touch()
    assert editor.wait(timeout=150) == 0

    now = (workspace / "m/model.bin").read_bytes()
    if result.returncode == 0 and now == old:  # the edit landed before the rename
        saved = json.loads(result.stdout)["saved"]
        edit_id = blake3.blake3(edit).hexdigest()
        assert [(s["path"], s["id"]) for s in saved] == [("m/model.bin", edit_id)]
        assert cli("cat-object", edit_id).ok().stdout == edit
    else:  # after the rename, or changed twice and kept: the workspace holds it
        assert now == edit, result.describe()


# -- a checkout that fails part way ------------------------------------------------------


def test_a_file_size_limit_during_checkout_names_the_half_switched_state(
    repo: Repo, workspace: Path, cli, store_tools
) -> None:
    first = _record(repo, workspace, {"a/small": b"one\n", "z/big": os.urandom(3 * MIB)})
    _record(repo, workspace, {"a/small": b"two\n", "z/big": os.urandom(3 * MIB)})

    result = cli("checkout", first.hex(), preexec_fn=store_tools.limit_file_size(MIB))
    result.clean_error("stopped part way", "partly switched", f"mlvc checkout {first.hex()[:12]}")
    assert "nothing was recorded" not in result.stderr
    assert "index.db" not in result.stderr

    cli("checkout", first.hex()).ok()
    assert (workspace / "a/small").read_bytes() == b"one\n"
    assert cli("status").ok().stdout.startswith(b"clean")


def test_a_full_device_during_checkout_names_the_half_switched_state(
    repo: Repo, workspace: Path, cli, store_tools
) -> None:
    first = _record(repo, workspace, {"a/small": b"one\n", "z/big": os.urandom(3 * MIB)})
    _record(repo, workspace, {"a/small": b"two\n", "z/big": os.urandom(3 * MIB)})
    (workspace / "z/big").unlink()

    with store_tools.tmpfs(workspace / "z", "1m"):
        result = cli("checkout", first.hex())
        result.clean_error("stopped part way", "no space left", "partly switched")
        assert "nothing was recorded" not in result.stderr
        assert not list((workspace / "z").iterdir()), "a temporary file was left behind"
    assert (workspace / "a/small").read_bytes() == b"one\n"
    cli("checkout", first.hex()).ok()
    assert cli("status").ok().stdout.startswith(b"clean")


def test_a_full_device_under_the_store_is_named_not_a_damaged_index(
    tmp_path: Path, cli, store_tools
) -> None:
    """SQLite cannot open its WAL on a full disk and says 'disk I/O error': the advice
    must be to free space, not to move the index aside."""
    disk = tmp_path / "disk"
    disk.mkdir()
    with store_tools.tmpfs(disk, "16m"):
        ws = disk / "ws"
        subprocess.run(["git", "init", "-q", str(ws)], check=True)
        init_store(ws)
        (ws / "small").write_text("one\n")
        cli("add", "small", cwd=ws).ok()
        first = json.loads(cli("log", "--json", cwd=ws).ok().stdout)["runs"][0]["id"]
        (ws / "small").write_text("two\n")
        cli("add", "small", cwd=ws).ok()
        filler = disk / "filler"
        with open(filler, "wb") as handle, pytest.raises(OSError):
            while True:
                handle.write(b"\0" * MIB)
        result = cli("checkout", first, cwd=ws).clean_error("no space left")
        assert "aside" not in result.stderr
        filler.unlink()
        cli("checkout", first, cwd=ws).ok()
        assert (ws / "small").read_text() == "one\n"
