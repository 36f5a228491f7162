"""A forked process running one function, for work that is Python around system calls:
a second process is the only way to use the second core (threads share the GIL).

The child inherits everything it needs through `fork`; its result (msgpack-able) or its
error comes back through a pipe. It never touches SQLite and ends with `os._exit`.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal

import msgpack

from mlvc.errors import MlvcError
from mlvc.store.fsutil import write_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")


FORK_MIN = 4096  # files: below this, forking and the pipe cost more than a process saves


def worth_forking(count: int) -> bool:
    """The one fork policy: a second process for FORK_MIN files or more, where `fork` exists."""
    return count >= FORK_MIN and hasattr(os, "fork")


class WorkerDied(MlvcError):
    """The worker ended without a readable reply (killed, or out of memory)."""


class WorkerBug(Exception):
    """The worker raised something other than an MlvcError: a bug, reported as one (exit 3
    and a crash log) with the worker's own traceback in the message."""


def share(
    here: Callable[[], T], there: Callable[[], Any], die_with_parent: bool = False
) -> tuple[T, Any | None]:
    """Run `there` in a forked child while `here` runs in this process; returns both
    results. The second is None when no child could be made (a process or memory limit)
    or it died without replying: the caller then does that work itself. If `here`
    fails, the child is stopped and reaped before the error goes on."""
    forked = Forked.start(there, die_with_parent)
    try:
        mine = here()
    except BaseException:
        if forked is not None:
            forked.cancel()
        raise
    if forked is None:
        return mine, None
    try:
        return mine, forked.finish()
    except WorkerDied:
        return mine, None


class Forked:
    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd

    @classmethod
    def start(cls, work: Callable[[], Any], die_with_parent: bool = False) -> Forked | None:
        """The running child, or None when no process can be made now (a process or
        memory limit): the caller then does the work itself. `die_with_parent`: the
        child gets SIGKILL when the parent dies (PR_SET_PDEATHSIG), for workers that
        write while the parent holds a lock."""
        try:
            read, write = os.pipe()
        except OSError:
            return None
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return None
        if pid:
            os.close(write)
            return cls(pid, read)
        code = 0
        gc.disable()  # short-lived: a collection would touch (and copy) every inherited page
        try:  # the child: never returns
            os.close(read)
            if die_with_parent:
                _die_with_parent()
            payload = msgpack.packb(["ok", work()])
        except MlvcError as exc:
            payload = msgpack.packb(["error", exc.message, exc.hint])
            code = 1
        except BaseException:
            import traceback

            payload = msgpack.packb(["bug", traceback.format_exc(), None])
            code = 1
        try:
            write_all(write, payload)
        finally:
            os._exit(code)

    def cancel(self) -> None:
        """Stop the child and reap it (the parent failed; its result is not wanted)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.close(self.fd)
        os.waitpid(self.pid, 0)

    def finish(self) -> Any:
        """The child's result; its MlvcError raised again here, or WorkerDied."""
        chunks = []
        while block := os.read(self.fd, 1 << 20):
            chunks.append(block)
        os.close(self.fd)
        os.waitpid(self.pid, 0)
        try:
            reply = msgpack.unpackb(b"".join(chunks))
        except (ValueError, msgpack.UnpackException):
            raise WorkerDied("a worker process died", hint="run the command again") from None
        if reply[0] == "bug":
            raise WorkerBug(f"a worker process failed:\n{reply[1]}")
        if reply[0] != "ok":
            raise MlvcError(reply[1], hint=reply[2])
        return reply[1]


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before the call
            os._exit(1)
