"""`mlvc.forked.share`: both halves run, a worker's error comes back as it was raised (an
expected error as MlvcError, anything else as a bug with the worker's traceback), and a
dead or impossible worker leaves its share to the caller."""

from __future__ import annotations

import os
import signal

import pytest

from mlvc.errors import MlvcError
from mlvc.forked import FORK_MIN, WorkerBug, share, worth_forking


def test_both_halves_run_and_the_worker_runs_in_another_process() -> None:
    mine, theirs = share(lambda: os.getpid(), lambda: os.getpid())
    assert mine == os.getpid()
    assert theirs is not None and theirs != os.getpid()


def test_an_expected_error_in_the_worker_keeps_its_message_and_hint() -> None:
    def fail() -> None:
        raise MlvcError("disk full while writing x", hint="free some space")

    with pytest.raises(MlvcError) as caught:
        share(lambda: None, fail)
    assert (caught.value.message, caught.value.hint) == (
        "disk full while writing x",
        "free some space",
    )


def test_a_bug_in_the_worker_is_a_bug_with_its_traceback() -> None:
    def broken() -> None:
        {}["missing"]

    with pytest.raises(WorkerBug, match="KeyError: 'missing'") as caught:
        share(lambda: None, broken)
    assert not isinstance(caught.value, MlvcError), "a bug must not look like an expected error"
    assert "broken" in str(caught.value), "the worker's traceback names the failing function"


def test_a_worker_that_dies_leaves_its_share_to_the_caller() -> None:
    mine, theirs = share(lambda: "mine", lambda: os.kill(os.getpid(), signal.SIGKILL))
    assert (mine, theirs) == ("mine", None)


def test_a_failing_caller_stops_and_reaps_its_worker() -> None:
    def fail() -> None:
        raise MlvcError("here failed")

    with pytest.raises(MlvcError, match="here failed"):
        share(fail, lambda: signal.pause())
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind, not even a zombie


def test_the_fork_policy() -> None:
    assert not worth_forking(FORK_MIN - 1)
    assert worth_forking(FORK_MIN)
