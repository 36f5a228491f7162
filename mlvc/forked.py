"""A forked process running one function, for work that is Python around system calls:
a second process is the only way to use the second core (threads share the GIL).

The child inherits everything it needs through `fork`; what it sends comes back through a
pipe as frames: a u32 length (little-endian) then one msgpack value, `["batch", item]`
for each item it streams, and last `["ok", result]`, `["error", message, hint]` (an
MlvcError) or `["bug", traceback, None]` (anything else). The parent takes the batches as
they arrive, so neither process holds more than a pipe's worth of what is in transit.
The child never touches SQLite and ends with `os._exit`.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import signal
import struct

import msgpack

from mlvc.errors import MlvcError
from mlvc.store.fsutil import write_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")
    Send = Callable[[Any], None]


FORK_MIN = 4096  # files: below this, forking and the pipe cost more than a process saves
FRAME = struct.Struct("<I")
PIPE_SIZE = 1 << 20  # the child runs a batch or so ahead of a parent busy with its own share
_F_SETPIPE_SZ = 1031


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
    return _run(lambda poll: here(), lambda send: there(), _no_batches, die_with_parent)


def stream(
    here: Callable[[Callable[[], None]], T],
    there: Callable[[Send], None],
    take: Callable[[Any], None],
    die_with_parent: bool = False,
) -> tuple[T, bool]:
    """Run `there(send)` in a forked child while `here(poll)` runs in this process. Each
    item the child passes to `send` is given to `take`, in order, in this process: when
    `here` calls `poll()` (between pieces of its own work: it returns at once) and after
    `here` returns. Returns here's result and whether the child did all its share: False
    when no child could be made or it died part way; `take` has then seen the items sent
    whole before it died, and the caller does the rest. Errors as in `share`."""
    mine, done = _run(here, _completed(there), take, die_with_parent)
    return mine, done is not None


def _run(
    here: Callable[[Callable[[], None]], T],
    there: Callable[[Send], Any],
    take: Callable[[Any], None],
    die_with_parent: bool,
) -> tuple[T, Any | None]:
    """`stream` returning the child's result (None: no child, or it died)."""
    forked = Forked.start(there, die_with_parent)
    if forked is None:
        return here(_nothing), None
    forked.take = take
    try:
        mine = here(forked.poll)
    except BaseException:
        forked.cancel()
        raise
    try:
        return mine, forked.finish()
    except WorkerDied:
        return mine, None


class Forked:
    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd
        self.take: Callable[[Any], None] = _no_batches
        """Given each item the child sends, as `poll` or `finish` reads it."""
        self._buffer = bytearray()
        self._end: list[Any] | None = None
        self._open = True

    @classmethod
    def start(cls, work: Callable[[Send], Any], die_with_parent: bool = False) -> Forked | None:
        """The running child, or None when no process can be made now (a process or
        memory limit): the caller then does the work itself. `die_with_parent`: the
        child gets SIGKILL when the parent dies (PR_SET_PDEATHSIG), for workers that
        write while the parent holds a lock."""
        try:
            read, write = os.pipe()
        except OSError:
            return None
        with contextlib.suppress(OSError):
            fcntl.fcntl(read, _F_SETPIPE_SZ, PIPE_SIZE)
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return None
        if pid:
            os.close(write)
            os.set_blocking(read, False)
            return cls(pid, read)
        _child(read, write, work, die_with_parent)  # never returns
        raise AssertionError("unreachable")

    def poll(self) -> None:
        """Take every whole item that has arrived, without waiting for more."""
        while self._open and self._end is None:
            try:
                block = os.read(self.fd, PIPE_SIZE)
            except BlockingIOError:
                return
            if not block:
                self._open = False
                return
            self._buffer += block
            self._frames()

    def cancel(self) -> None:
        """Stop the child and reap it (the parent failed; its result is not wanted)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.close(self.fd)
        os.waitpid(self.pid, 0)

    def finish(self) -> Any:
        """The child's result, once `take` has seen every item it sent; its MlvcError
        raised again here, or WorkerDied. If `take` fails, the child is stopped."""
        try:
            self._frames()
            os.set_blocking(self.fd, True)
            while self._open and self._end is None:
                block = os.read(self.fd, PIPE_SIZE)
                if not block:
                    break
                self._buffer += block
                self._frames()
        except BaseException:
            self.cancel()
            raise
        os.close(self.fd)
        os.waitpid(self.pid, 0)
        reply = self._end
        if reply is None:
            raise WorkerDied("a worker process died", hint="run the command again")
        if reply[0] == "bug":
            raise WorkerBug(f"a worker process failed:\n{reply[1]}")
        if reply[0] != "ok":
            raise MlvcError(reply[1], hint=reply[2])
        return reply[1]

    def _frames(self) -> None:
        """Decode the whole frames in the buffer: batches go to `take`, the last is kept."""
        buffer, at = self._buffer, 0
        while len(buffer) - at >= FRAME.size and self._end is None:
            (size,) = FRAME.unpack_from(buffer, at)
            if len(buffer) - at - FRAME.size < size:
                break
            start = at + FRAME.size
            try:
                frame = msgpack.unpackb(buffer[start : start + size])
            except (ValueError, msgpack.UnpackException):
                self._open = False  # garbled: treated as a death, its share redone
                break
            at = start + size
            if frame[0] == "batch":
                self.take(frame[1])
            else:
                self._end = frame
        del buffer[:at]


def _child(read: int, write: int, work: Callable[[Send], Any], die_with_parent: bool) -> None:
    code = 0
    gc.disable()  # short-lived: a collection would touch (and copy) every inherited page
    try:
        os.close(read)
        if die_with_parent:
            _die_with_parent()

        def send(item: Any) -> None:
            _write_frame(write, ["batch", item])

        end = ["ok", work(send)]
    except MlvcError as exc:
        end = ["error", exc.message, exc.hint]
        code = 1
    except BaseException:
        import traceback

        end = ["bug", traceback.format_exc(), None]
        code = 1
    try:
        _write_frame(write, end)
    finally:
        os._exit(code)


def _write_frame(fd: int, value: Any) -> None:
    payload = msgpack.packb(value)
    write_all(fd, FRAME.pack(len(payload)) + payload)


def _completed(there: Callable[[Send], None]) -> Callable[[Send], bool]:
    def work(send: Send) -> bool:
        there(send)
        return True

    return work


def _no_batches(item: Any) -> None:
    raise AssertionError("share's worker sends no batches")


def _nothing() -> None:
    pass


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before the call
            os._exit(1)
