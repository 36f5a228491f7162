"""Running the user's command: signals sent to mlvc reach the command, whichever of mlvc's
threads the kernel hands them to."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from mlvc.capture import process

SLEEPER = "import pathlib, time; pathlib.Path('started').touch(); time.sleep(30)"


def _run_signalled(tmp_path: Path, signum: int) -> process.Finished:
    """The sleeper run by `process.execute`, with `signum` sent to a thread of this process
    other than the main one (as the kernel may do with a signal sent to the process) once
    the command has started."""
    devnull = os.open(os.devnull, os.O_WRONLY)

    def signal_from_another_thread() -> None:
        while not (tmp_path / "started").exists():
            os.sched_yield()
        signal.pthread_kill(threading.get_ident(), signum)

    sender = threading.Thread(target=signal_from_another_thread, daemon=True)
    sender.start()
    try:
        return process.execute(
            [sys.executable, "-c", SLEEPER],
            tmp_path,
            dict(os.environ),
            (tmp_path / "out.log", tmp_path / "err.log"),
            terminal=(devnull, devnull),
        )
    finally:
        sender.join()
        os.close(devnull)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_taken_by_another_thread_still_reaches_the_command(
    tmp_path: Path, signum: int
) -> None:
    """Without the wake-up pipe the main thread stays in its wait, and the command sleeps
    on to its end (exit 0) with the signal never passed on."""
    finished = _run_signalled(tmp_path, signum)
    assert finished.signal == signum
    assert finished.exit_code == 128 + signum
    assert finished.status == "interrupted"


def test_the_wake_up_fd_and_the_handlers_are_put_back(tmp_path: Path) -> None:
    fd_before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd_before)
    handler_before = signal.getsignal(signal.SIGTERM)
    _run_signalled(tmp_path, signal.SIGTERM)
    assert signal.set_wakeup_fd(fd_before) == fd_before
    assert signal.getsignal(signal.SIGTERM) is handler_before
