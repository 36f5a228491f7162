"""`refs.py` directly: tags move by compare-and-swap under a lock file; a lock left by a
killed command is reclaimed, a live one is respected; every move is logged."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mlvc.ids import ObjectId
from mlvc.store.refs import STALE_EMPTY_LOCK_SECONDS, TagError, Tags

A = ObjectId(bytes(range(32)))
B = ObjectId(bytes(range(1, 33)))


@pytest.fixture
def tags(tmp_path: Path) -> Tags:
    return Tags(tmp_path)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_moves_are_compare_and_swap_and_logged(tags: Tags) -> None:
    tags.move("prod", A, None, "alice", "2026-01-01T00:00:00Z", "first")
    with pytest.raises(TagError, match="moved while this command ran"):
        tags.move("prod", B, None, "bob", "2026-01-02T00:00:00Z")  # bob saw no tag
    assert tags.get("prod") == A
    tags.move("prod", B, A, "bob", "2026-01-02T00:00:00Z", "better")
    tags.move("prod", None, B, "carol", "2026-01-03T00:00:00Z")
    assert tags.get("prod") is None
    moves = [(m.user, m.old, m.new, m.message) for m in tags.history("prod")]
    assert moves == [("alice", None, A, "first"), ("bob", A, B, "better"), ("carol", B, None, "")]
    assert tags.names() == []


def test_a_lock_held_by_a_live_command_is_respected(tags: Tags) -> None:
    tags.refs.mkdir(parents=True)
    lock = tags.refs / "prod.lock"
    lock.write_text(f"{os.getpid()}\n")
    with pytest.raises(TagError, match="being moved by another command"):
        tags.move("prod", A, None, "alice", "now")
    assert lock.exists() and tags.get("prod") is None


def test_a_lock_left_by_a_killed_command_is_reclaimed(tags: Tags) -> None:
    tags.refs.mkdir(parents=True)
    lock = tags.refs / "prod.lock"
    lock.write_text(f"{_dead_pid()}\n")
    tags.move("prod", A, None, "alice", "now")
    assert tags.get("prod") == A
    assert not lock.exists()


def test_an_empty_lock_is_stale_only_once_old(tags: Tags) -> None:
    tags.refs.mkdir(parents=True)
    lock = tags.refs / "prod.lock"
    lock.write_text("")
    with pytest.raises(TagError, match="being moved"):
        tags.move("prod", A, None, "alice", "now")
    old = lock.stat().st_mtime - STALE_EMPTY_LOCK_SECONDS - 1
    os.utime(lock, (old, old))
    tags.move("prod", A, None, "alice", "now")
    assert tags.get("prod") == A


@pytest.mark.parametrize("name", ["latest", "-x", "a/b", "x.lock", "", "a" * 129])
def test_bad_names_are_refused(tags: Tags, name: str) -> None:
    with pytest.raises(TagError, match="not a valid tag name"):
        tags.move(name, A, None, "alice", "now")


def test_a_torn_last_log_line_is_skipped(tags: Tags) -> None:
    tags.move("prod", A, None, "alice", "now")
    with open(tags.logs / "prod", "a", encoding="utf-8") as handle:
        handle.write('{"time": "later", "us')  # a crash mid-append
    assert [m.new for m in tags.history("prod")] == [A]
