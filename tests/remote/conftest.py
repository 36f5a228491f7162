"""A real S3 server for the remote tests: SeaweedFS, started once per test process on
127.0.0.1 (tests/remote/seaweed.py) and stopped after.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.remote.seaweed import Launch, S3Server, SeaweedError, launch, start

BUCKET = "mlvc-test"
_early: list[Launch] = []  # started at collection, not yet taken by the fixture


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start weed as soon as this process has collected a test that needs it, not when the
    first such test runs: weed takes 5-10 s to serve, mostly waiting on its own timers, and
    the tests this process runs before its first remote test fill that time."""
    if session.config.option.collectonly:
        return
    if any("s3_server" in getattr(item, "fixturenames", ()) for item in session.items):
        factory = session.config._tmp_path_factory  # what the tmp_path_factory fixture is
        with contextlib.suppress(SeaweedError):  # the fixture tries again, and says why
            _early.append(launch(factory.mktemp("weed"), BUCKET))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop a weed started at collection that no test took (under xdist, another process may
    have run every remote test)."""
    while _early:
        _early.pop().stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A running SeaweedFS S3 gateway with an empty bucket, for the whole session."""
    try:
        started = _early.pop() if _early else None
        if started is None or not started.wait_until_serving():
            if started is not None:
                started.stop()
            started = start(tmp_path_factory.mktemp("weed"), BUCKET)
    except SeaweedError as exc:
        pytest.fail(str(exc))
    try:
        yield started.server
    finally:
        started.stop()


@pytest.fixture
def s3_url(s3_server: S3Server) -> str:
    """A fresh, empty prefix of the session's bucket: one remote per test."""
    return f"s3://{s3_server.bucket}/{uuid.uuid4().hex}"


@pytest.fixture
def s3_options(s3_server: S3Server) -> dict[str, Any]:
    return s3_server.options()
