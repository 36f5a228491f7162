"""The workspace lock: one command at a time rewrites the workspace (checkout, reproduce
--in-place); a second one stops with a clear error instead of interleaving writes."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from mlvc.errors import MlvcError


class WorkspaceBusyError(MlvcError):
    pass


@contextlib.contextmanager
def workspace_lock(repo_dir: Path) -> Iterator[None]:
    """Held for the block; the kernel drops it if the process dies, so it never goes stale."""
    path = repo_dir / "workspace.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise WorkspaceBusyError(
                f"another mlvc command is rewriting this workspace (pid {holder})",
                hint="wait for it to finish, then run this again",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
