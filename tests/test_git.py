"""`start_git`: a call left running, whose result any thread may ask for."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from mlvc.git import StartedGit, start_git


def _asked_twice_at_once(started: StartedGit) -> list[subprocess.CompletedProcess[bytes] | None]:
    results: list[subprocess.CompletedProcess[bytes] | None] = []
    barrier = threading.Barrier(2)

    def ask() -> None:
        barrier.wait()
        results.append(started.result())

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_the_result_asked_by_two_threads_at_once_is_one_and_whole(tmp_path: Path) -> None:
    """`mlvc run` may wait for the code capture from its loader thread and, on an error
    path, from its own: both must get the one finished call, its output whole."""
    for _ in range(20):
        first, second = _asked_twice_at_once(start_git(["--version"], tmp_path, {}))
        assert first is second
        assert first is not None and first.returncode == 0
        assert first.stdout.startswith(b"git version")
