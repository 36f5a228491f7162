"""The store's use lock: every command that reads or writes objects holds it shared
(`ObjectStore` takes it when it opens), and `gc --apply` holds it exclusive while it
rewrites packs. So a `run` that found an object already stored (and will refer to it
when it commits) never sees gc remove it, and a reader never meets a pack deleted under
it. Both sides wait for the other (flock, blocking): nothing fails with a lock error;
the kernel drops the lock of a killed process, so it never goes stale.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from mlvc.store.fsutil import locked

NAME = "gc.lock"
_exclusive: set[Path] = set()  # stores this process holds exclusive (gc itself reads them)
_shared: dict[int, Path] = {}  # descriptors this process holds shared, and their store


def shared(mlvc_dir: Path) -> int | None:
    """Take the lock shared; returns the descriptor to `release`. None where it cannot
    be taken (a read-only store: nothing can be collected there) or is held exclusive by
    this process."""
    if mlvc_dir in _exclusive:
        return None
    try:
        fd = os.open(mlvc_dir / NAME, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None
    fcntl.flock(fd, fcntl.LOCK_SH)
    _shared[fd] = mlvc_dir
    return fd


def release(fd: int | None) -> None:
    if fd is not None:
        _shared.pop(fd, None)
        os.close(fd)


@contextlib.contextmanager
def exclusive(mlvc_dir: Path) -> Iterator[None]:
    """Hold the lock exclusive for the block, once every other command has let go.
    The caller must have closed its own object store first (it would wait for itself)."""
    if mlvc_dir in _shared.values():
        raise RuntimeError("gclock.exclusive while this process has the object store open")
    with locked(mlvc_dir / NAME):
        _exclusive.add(mlvc_dir)
        try:
            yield
        finally:
            _exclusive.discard(mlvc_dir)
