"""`paused_collector`: no collection inside, the collector as it was found after."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from mlvc.heap import paused_collector


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_paused_inside_and_running_after_even_when_the_block_fails() -> None:
    gc.enable()
    with pytest.raises(ValueError), paused_collector():
        assert not gc.isenabled()
        raise ValueError
    assert gc.isenabled()


def test_nested_blocks_leave_it_to_the_outermost() -> None:
    gc.enable()
    with paused_collector():
        with paused_collector():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_off_before_stays_off() -> None:
    gc.disable()

    @paused_collector()
    def work() -> bool:
        return gc.isenabled()

    assert work() is False
    assert not gc.isenabled()
