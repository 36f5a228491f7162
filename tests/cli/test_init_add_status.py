"""End to end through the real `mlvc` command: init, add, status and plumbing."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import blake3

from tests.conftest import Run, init_store, wait_past_racy_window


def test_help_lists_the_commands(mlvc: Run) -> None:
    out = mlvc("--help").stdout
    for name in ("init", "add", "status", "hash-object", "cat-object", "ls-tree"):
        assert name in out
    assert "Plumbing" in out


def test_version_is_printed(mlvc: Run) -> None:
    from mlvc import __version__

    assert mlvc("--version").stdout.strip() == f"mlvc {__version__}"


def test_init_then_commands_work_from_subdirectories(mlvc: Run, workspace: Path) -> None:
    result = json.loads(mlvc("init", "--json").stdout)
    assert result["root"] == str(workspace)
    assert result["git"] is True
    sub = workspace / "a" / "b"
    sub.mkdir(parents=True)
    (sub / "f.txt").write_text("hello\n")
    mlvc("add", "f.txt", cwd=sub)
    status = json.loads(mlvc("status", "--json", cwd=sub).stdout)
    assert status == {
        "changes": [],
        "clean": True,
        "tracked": 1,
        "skipped": [],
        "ignored": [],
        "stale": [],
    }


def test_init_refuses_to_nest(mlvc: Run, workspace: Path) -> None:
    mlvc("init")
    (workspace / "inner").mkdir()
    again = mlvc("init", cwd=workspace / "inner", check=False)
    assert again.returncode == 1
    assert again.stderr.startswith("error: an mlvc repository already exists")
    assert mlvc("init", check=False).returncode == 1


def test_init_outside_git(mlvc: Run, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert json.loads(mlvc("init", "--json", cwd=plain).stdout)["git"] is False


def test_not_a_repository(mlvc: Run, tmp_path: Path) -> None:
    result = mlvc("status", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: not an mlvc repository")
    assert "hint: run 'mlvc init'" in result.stderr


def test_hash_object_equals_blake3(mlvc: Run, workspace: Path) -> None:
    sizes = {"empty": 0, "one": 1, "boundary": 64 << 10, "max": 256 << 10, "multi": 3 << 20}
    for name, size in sizes.items():
        data = random.Random(size).randbytes(size)
        (workspace / name).write_bytes(data)
        assert mlvc("hash-object", name).stdout.strip() == blake3.blake3(data).hexdigest()


def test_add_records_what_cat_object_returns(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    data = random.Random(9).randbytes(2 << 20)
    (workspace / "model.bin").write_bytes(data)
    added = json.loads(mlvc("add", "model.bin", "--json").stdout)
    oid = added["paths"][0]["id"]
    assert oid == blake3.blake3(data).hexdigest()
    raw = mlvc_bytes(workspace, "cat-object", oid[:10])
    assert raw == data
    info = json.loads(mlvc("cat-object", oid[:8], "--json").stdout)
    assert info == {"id": oid, "kind": "file", "size": len(data), "chunked": True}


def mlvc_bytes(cwd: Path, *args: str) -> bytes:
    import subprocess

    from tests.conftest import MLVC

    return subprocess.run([MLVC, *args], cwd=cwd, capture_output=True, check=True).stdout


def test_directories_become_trees_and_snapshots(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    data = workspace / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "sub" / "b.txt").write_text("b\n")
    (data / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(data / "run.sh", 0o755)
    (data / "__pycache__").mkdir()
    (data / "__pycache__" / "m.pyc").write_bytes(b"junk")
    (workspace / ".mlvcignore").write_text("*.tmp\n")
    (data / "scratch.tmp").write_text("ignored")
    added = json.loads(mlvc("add", "data", "--json").stdout)
    assert added["files"] == 3
    tree_id = added["paths"][0]["id"]
    listing = json.loads(mlvc("ls-tree", "-r", tree_id, "--json").stdout)
    paths = {e["path"]: e for e in listing["entries"]}
    assert set(paths) == {"a.csv", "run.sh", "sub/b.txt"}
    assert paths["run.sh"]["executable"] is True
    run = json.loads(mlvc("cat-object", added["run_id"]).stdout)
    assert run["kind"] == "run"
    snapshot = run["object"]
    assert snapshot["kind"] == "snapshot"
    assert snapshot["outputs"]["data"]["id"] == tree_id
    assert snapshot["owner"]["user"]


def test_status_reports_modified_deleted_new(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    data = workspace / "data"
    data.mkdir()
    for name in ("a", "b", "c"):
        (data / name).write_text(name)
    (workspace / "params.yaml").write_text("lr: 0.1\n")
    mlvc("add", "data", "params.yaml")
    assert json.loads(mlvc("status", "--json").stdout)["clean"] is True
    (data / "a").write_text("changed")
    (data / "b").unlink()
    (data / "d").write_text("new")
    (workspace / "params.yaml").write_text("lr: 0.2\n")
    (workspace / "untracked.txt").write_text("not tracked")
    changes = json.loads(mlvc("status", "--json").stdout)["changes"]
    assert changes == [
        {"path": "data/a", "state": "modified"},
        {"path": "data/b", "state": "deleted"},
        {"path": "data/d", "state": "new"},
        {"path": "params.yaml", "state": "modified"},
    ]
    human = mlvc("status").stdout
    assert "modified: data/a" in human and "deleted: data/b" in human
    mlvc("add", "data", "params.yaml")
    assert json.loads(mlvc("status", "--json").stdout)["clean"] is True


def test_same_size_same_mtime_edit_is_caught(mlvc: Run, workspace: Path) -> None:
    """A racy edit: same size, mtime forced back; the stat cache must not hide it."""
    init_store(workspace)
    path = workspace / "w.txt"
    path.write_text("aaaa")
    mlvc("add", "w.txt")
    st = path.stat()
    path.write_text("bbbb")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    changes = json.loads(mlvc("status", "--json").stdout)["changes"]
    assert changes == [{"path": "w.txt", "state": "modified"}]


def test_status_uses_the_stat_cache(mlvc: Run, workspace: Path) -> None:
    """An old, unchanged file is not read again: its stat-cache row is left as it was.
    A file hashed right after it was written (racy) is hashed again and its row renewed.

    Which rows are racy is set up, not left to the machine's speed: the add waits until
    the clock is past the racy window of the ctime `utime` gave; the racy row is made
    racy by giving it its file's ctime as the time it was hashed."""
    import sqlite3

    init_store(workspace)
    old, fresh = workspace / "old.bin", workspace / "fresh.bin"
    old.write_bytes(b"x" * 100)
    past = time.time_ns() - 10_000_000_000
    os.utime(old, ns=(past, past))
    wait_past_racy_window(old)
    mlvc("add", "old.bin")
    db_path = workspace / ".mlvc" / "index.db"

    def hashed(name: str) -> int:
        db = sqlite3.connect(db_path)
        try:
            return int(
                db.execute("SELECT hashed_ns FROM statcache WHERE path = ?", (name,)).fetchone()[0]
            )
        finally:
            db.close()

    before = hashed("old.bin")
    assert json.loads(mlvc("status", "--json").stdout)["clean"] is True
    assert hashed("old.bin") == before

    fresh.write_bytes(b"y" * 100)
    mlvc("add", "fresh.bin")
    racy = fresh.stat().st_ctime_ns  # as if hashed the instant it was written
    db = sqlite3.connect(db_path)
    with db:
        db.execute("UPDATE statcache SET hashed_ns = ? WHERE path = ?", (racy, "fresh.bin"))
    db.close()
    assert json.loads(mlvc("status", "--json").stdout)["clean"] is True
    assert hashed("fresh.bin") > racy


def test_adding_unchanged_content_records_nothing(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    (workspace / "f").write_text("same")
    first = json.loads(mlvc("add", "f", "--json").stdout)
    again = json.loads(mlvc("add", "f", "--json").stdout)
    assert first["run_id"] is not None
    assert again["run_id"] is None
    assert again["paths"][0]["changed"] is False


def test_missing_path_is_an_error(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    result = mlvc("add", "nope.txt", check=False)
    assert result.returncode == 1
    assert "error: pathspec 'nope.txt' did not match any file" in result.stderr


def test_path_outside_the_repository_is_refused(mlvc: Run, workspace: Path, tmp_path: Path) -> None:
    init_store(workspace)
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    result = mlvc("add", str(outside), check=False)
    assert result.returncode == 1
    assert "outside the repository" in result.stderr


def test_every_command_is_documented(mlvc: Run) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    import re

    listed = re.findall(r"│ (\w[\w-]+)\s", mlvc("--help", env={"COLUMNS": "120"}).stdout)
    assert listed
    for name in listed:
        if name.startswith("-"):
            continue
        assert f"## mlvc {name}" in docs, f"mlvc {name} is missing from docs/cli.md"


def test_adding_a_removed_path_records_the_removal(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    (workspace / "gone").mkdir()
    (workspace / "gone" / "f").write_text("x")
    mlvc("add", "gone")
    import shutil

    shutil.rmtree(workspace / "gone")
    assert json.loads(mlvc("status", "--json").stdout)["changes"] == [
        {"path": "gone/f", "state": "deleted"}
    ]
    result = json.loads(mlvc("add", "gone", "--json").stdout)
    assert result["paths"] == [
        {"path": "gone", "kind": "removed", "id": None, "size": 0, "changed": True}
    ]
    run = json.loads(mlvc("cat-object", result["run_id"]).stdout)["object"]
    assert run["removed"] == ["gone"]
    assert json.loads(mlvc("status", "--json").stdout)["tracked"] == 0


def test_explicitly_adding_an_ignored_path_is_refused(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    (workspace / ".mlvcignore").write_text("*.tmp\n")
    (workspace / "x.tmp").write_text("scratch")
    (workspace / "__pycache__").mkdir()
    (workspace / "__pycache__" / "m.pyc").write_bytes(b"\0")
    for path in ("x.tmp", "__pycache__", "__pycache__/m.pyc"):
        result = mlvc("add", path, check=False)
        assert result.returncode == 1
        assert "is ignored" in result.stderr


def test_an_interrupted_init_is_explained(mlvc: Run, workspace: Path) -> None:
    (workspace / ".mlvc").mkdir()
    result = mlvc("init", check=False)
    assert result.returncode == 1
    assert "holds no config.toml" in result.stderr
