"""`mlvc.forked.share` and `stream`: both halves run, streamed items arrive in order as
they come, a worker's error comes back as it was raised (an
expected error as MlvcError, anything else as a bug with the worker's traceback), and a
dead or impossible worker leaves its share to the caller."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from mlvc.errors import MlvcError
from mlvc.forked import FORK_MIN, WorkerBug, share, stream, worth_forking


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

    before = _children()
    with pytest.raises(MlvcError, match="here failed"):
        share(fail, lambda: signal.pause())
    assert _children() <= before  # no child left behind, not even a zombie


def test_the_fork_policy() -> None:
    assert not worth_forking(FORK_MIN - 1)
    assert worth_forking(FORK_MIN)


def test_streamed_items_arrive_in_order_while_the_caller_works() -> None:
    """The parent takes what the child sends between pieces of its own work (poll), not
    only at the end: with more items than the pipe holds, the child could not finish
    before the parent's first poll."""
    taken: list[int] = []
    seen_while_working: list[int] = []
    item = "x" * 100_000  # 60 items: several times the pipe

    def here(poll: Callable[[], None]) -> str:
        while len(taken) < 30:
            poll()
        seen_while_working.append(len(taken))
        return "mine"

    def there(send: Callable[[object], None]) -> None:
        for n in range(60):
            send([n, item])

    mine, whole = stream(here, there, lambda got: taken.append(got[0]))
    assert (mine, whole) == ("mine", True)
    assert taken == list(range(60))
    assert seen_while_working[0] >= 30


def test_a_worker_killed_mid_stream_leaves_what_it_sent_whole() -> None:
    taken: list[int] = []

    def there(send: Callable[[object], None]) -> None:
        for n in range(5):
            send(n)
        os.kill(os.getpid(), signal.SIGKILL)

    mine, whole = stream(lambda poll: "mine", there, taken.append)
    assert (mine, whole) == ("mine", False)
    assert taken == [0, 1, 2, 3, 4]


def test_a_bug_after_streaming_is_still_a_bug() -> None:
    def there(send: Callable[[object], None]) -> None:
        send(1)
        [][1]

    taken: list[object] = []
    with pytest.raises(WorkerBug, match="IndexError"):
        stream(lambda poll: None, there, taken.append)
    assert taken == [1]


def test_a_failing_taker_stops_and_reaps_the_worker() -> None:
    def take(item: object) -> None:
        raise MlvcError("disk full")

    def there(send: Callable[[object], None]) -> None:
        while True:
            send("more")

    before = _children()
    with pytest.raises(MlvcError, match="disk full"):
        stream(lambda poll: None, there, take)
    assert _children() <= before


def _children() -> set[int]:
    """This process's children, zombies included (the test runner may have others of
    its own, such as a browser driver: only those a test adds count)."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            found |= {int(p) for p in (task / "children").read_text().split()}
    return found
