"""The inotify watcher on its own: real directories, real `cat` processes."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from mlvc.capture import inotify
from mlvc.workspace.ignore import Ignore

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux-only")


def _watcher(tmp_path: Path, *files: str) -> tuple[inotify.Watcher, Path]:
    """A started watcher on a new workspace holding `files`."""
    root, spool = tmp_path / "ws", tmp_path / "spool"
    root.mkdir()
    spool.mkdir()
    for name in files:
        (root / name).write_text("1\n")
    watcher = inotify.Watcher(root, Ignore.load(root), spool)
    watcher.watch({""}, set())
    watcher.start()
    return watcher, root


def _inotify_fds() -> list[str]:
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if "inotify" in os.readlink(f"/proc/self/fd/{name}"):
                found.append(name)
        except OSError:
            continue
    return found


def test_stop_wakes_the_reader_from_its_pause_and_sees_the_last_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pause between batches far longer than the drain may take: stop() must cut it
    # short, not wait it out (which would lose the last read and report an overflow).
    monkeypatch.setattr(inotify, "BATCH_S", 600.0)
    monkeypatch.setattr(inotify, "DRAIN_TIMEOUT_S", 20.0)
    watcher, root = _watcher(tmp_path, "first.csv", "last.csv")
    first, last = str(root / "first.csv"), str(root / "last.csv")
    subprocess.run(["cat", first], check=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while first not in watcher.masks:  # the reader has taken a batch: it is pausing now
        assert time.monotonic() < deadline, "the first read never reached the watcher"
        time.sleep(0.001)
    subprocess.run(["cat", last], check=True, stdout=subprocess.DEVNULL)
    seen = watcher.stop()
    assert seen.notes == []
    assert seen.reads == {first, last}
    watcher.close()


def test_close_releases_the_descriptor(tmp_path: Path) -> None:
    before = _inotify_fds()
    watcher, root = _watcher(tmp_path, "data.csv")
    subprocess.run(["cat", str(root / "data.csv")], check=True, stdout=subprocess.DEVNULL)
    seen = watcher.stop()
    watcher.close()
    assert str(root / "data.csv") in seen.reads
    assert _inotify_fds() == before
