"""Running the user's command exactly as without mlvc: same stdin, live output, same exit.

stdout and stderr go through pipes that a thread per stream copies to both the terminal
and a log file, byte for byte (binary-safe, no deadlock on large output), except that
known secret values are replaced in the log (the terminal sees them as printed). The child
stays in mlvc's process group so it keeps the terminal: Ctrl-C reaches it directly.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mlvc.errors import MlvcError
from mlvc.secrets import Scrubber

GRACE = 0.3


class CommandNotFoundError(MlvcError):
    exit_code = 127  # as a shell says of a command it cannot find or run


@dataclass(frozen=True)
class Finished:
    exit_code: int  # the shell convention: 128 + N when killed by signal N
    status: str  # ok, failed or interrupted
    wall_seconds: float
    rusage: Any  # resource.struct_rusage of the child and the descendants it waited for
    signal: int | None


def _pump(source: int, sink: int, log: Path, scrub: Scrubber) -> None:
    """Copy the command's output to the terminal and, scrubbed, to `log`. If `log`
    cannot be made (the command removed the spool) or written (a full disk, a file size
    limit), the output still goes to the terminal: a pipe nobody reads would block the
    command for ever."""
    try:
        out: BinaryIO | None = open(log, "wb")  # noqa: SIM115
    except OSError:
        out = None
    while chunk := os.read(source, 1 << 16):
        out = _logged(out, scrub.feed(chunk))
        view = memoryview(chunk)
        while view:
            try:
                view = view[os.write(sink, view) :]
            except BrokenPipeError:
                break  # the terminal went away; keep logging
    out = _logged(out, scrub.finish())
    if out is not None:
        with contextlib.suppress(OSError):  # a full disk: the log ends short
            out.close()
    os.close(source)


def _logged(out: BinaryIO | None, data: bytes) -> BinaryIO | None:
    """`data` written to the log `out`; the log, or None once a write failed (closed,
    and not written to again: the output is logged only up to there)."""
    if out is None:
        return None
    try:
        out.write(data)
        return out
    except OSError:
        with contextlib.suppress(OSError):
            out.close()  # its buffer cannot be written either
        return None


def execute(
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str],
    logs: tuple[Path, Path],
    terminal: tuple[int, int] = (1, 2),
    secrets: Sequence[str] = (),
    wrapped: bool = False,
) -> Finished:
    """Run `argv`; returns when it has exited and its output is fully logged, with each
    of `secrets` replaced (see mlvc.secrets.known_values).

    SIGINT and SIGTERM sent to mlvc are passed on to the child. A Ctrl-C from the
    terminal reaches the child on its own, so SIGINT is passed on only if the child is
    still running after a short grace period (as a second Ctrl-C would be). When
    `argv` is a tracer that runs the command (`wrapped`: strace), the signals go to the
    command, its child: strace would only detach from it and leave it running.
    """
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    started = time.monotonic()
    # The handlers go in before the child starts: a signal sent once the command runs
    # (or a moment before) is passed on and recorded, never the end of mlvc unrecorded.
    received: list[int] = []
    children: list[subprocess.Popen[bytes]] = []
    previous = _forward_signals(children, received, wrapped)
    woken = _Wakeup.install() if previous else None
    try:
        child = _start(argv, cwd, env, (out_r, out_w), (err_r, err_w))
        children.append(child)
        for signum in list(received):  # arrived while the child was being started
            _send(child, signum, wrapped)
        pumps = [
            threading.Thread(target=_pump, args=(fd, sink, log, Scrubber(secrets)), daemon=True)
            for fd, sink, log in ((out_r, terminal[0], logs[0]), (err_r, terminal[1], logs[1]))
        ]
        for pump in pumps:
            pump.start()
        _, wait_status, rusage = _wait4(child.pid, woken)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if woken is not None:
            woken.close()
    child.returncode = os.waitstatus_to_exitcode(wait_status)
    for pump in pumps:
        pump.join()
    return _finished(child.returncode, bool(received), time.monotonic() - started, rusage)


def _start(
    argv: list[str],
    cwd: Path,
    env: Mapping[str, str],
    out: tuple[int, int],
    err: tuple[int, int],
) -> subprocess.Popen[bytes]:
    """The child, writing to the write ends of the `out` and `err` pipes (closed here:
    the child holds them now); the read ends are closed too if it cannot start."""
    try:
        return subprocess.Popen(
            argv, cwd=cwd, env=dict(env), stdout=out[1], stderr=err[1], close_fds=True
        )
    except (FileNotFoundError, PermissionError) as exc:
        os.close(out[0])
        os.close(err[0])
        raise CommandNotFoundError(
            f"cannot run {argv[0]}: {exc.strerror}", hint="check the command after '--'"
        ) from None
    finally:
        os.close(out[1])
        os.close(err[1])


def _finished(returncode: int, signalled: bool, wall: float, rusage: Any) -> Finished:
    """How the command ended: killed by a signal (exit code 128 + its number), and
    interrupted when mlvc passed a signal on or SIGINT or SIGTERM killed it."""
    killed = -returncode if returncode < 0 else None
    exit_code = 128 + killed if killed is not None else returncode
    if signalled or killed in (signal.SIGINT, signal.SIGTERM):
        status = "interrupted"
    else:
        status = "ok" if exit_code == 0 else "failed"
    return Finished(exit_code, status, wall, rusage, killed)


class Clock:
    """Times a block of this process's own work, for a run recorded from inside it."""

    def __init__(self) -> None:
        import resource

        self._resource = resource
        self.started = time.monotonic()

    def finished(self, status: str) -> Finished:
        usage = self._resource.getrusage(self._resource.RUSAGE_SELF)
        code = {"ok": 0, "interrupted": 130}.get(status, 1)
        return Finished(code, status, time.monotonic() - self.started, usage, None)


class _Wakeup:
    """A pipe that every signal mlvc receives writes a byte to, whichever of its threads
    the kernel delivers it to (`signal.set_wakeup_fd`), until `close` puts back the
    wake-up fd it replaced. (A plain class: a dataclass costs start-up.)"""

    def __init__(self, read: int, write: int, replaced: int) -> None:
        self.read = read
        self.write = write
        self.replaced = replaced

    @classmethod
    def install(cls) -> _Wakeup:
        read, write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        return cls(read, write, signal.set_wakeup_fd(write, warn_on_full_buffer=False))

    def close(self) -> None:
        signal.set_wakeup_fd(self.replaced)
        os.close(self.read)
        os.close(self.write)


def _wait4(pid: int, woken: _Wakeup | None) -> tuple[int, int, Any]:
    """The exit of `pid`. The kernel may deliver a signal to any thread of mlvc (an output
    pump, the tracer's reader), and then a plain wait is not interrupted: the handler
    would run only once the child had exited. So, where handlers are installed, the main
    thread waits on the child's pidfd and on the wake-up pipe of `woken`, and runs the
    handlers as soon as a signal arrives."""
    if woken is not None:
        _wait_awake(pid, woken.read)
    while True:
        try:
            return os.wait4(pid, 0)
        except InterruptedError:
            continue


def _wait_awake(pid: int, woken: int) -> None:
    """Returns once `pid` has exited (its pidfd is readable), draining `woken` each time a
    signal wakes this thread: the handlers run on the way back into Python."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:  # no pidfd (a kernel before 5.3): a plain wait
        return
    try:
        while pidfd not in select.select([pidfd, woken], [], [])[0]:
            with contextlib.suppress(BlockingIOError):
                os.read(woken, 512)
    finally:
        os.close(pidfd)


def _forward_signals(
    children: list[subprocess.Popen[bytes]], received: list[int], wrapped: bool
) -> dict[int, Any]:
    """Handlers passing SIGINT/SIGTERM/SIGHUP on to the child once `children` holds it
    (until then they are only noted in `received`, and sent when it starts)."""

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        if not children:
            return
        if signum == signal.SIGINT:
            timer = threading.Timer(GRACE, _send, args=(children[0], signum, wrapped))
            timer.daemon = True
            timer.start()
        else:
            _send(children[0], signum, wrapped)

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, on_signal)
    return previous


def _send(child: subprocess.Popen[bytes], signum: int, wrapped: bool) -> None:
    if child.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(_command_pid(child.pid) if wrapped else child.pid, signum)


def _command_pid(tracer: int) -> int:
    """The first child of `tracer` (the command it started), or `tracer` itself."""
    try:
        with open(f"/proc/{tracer}/task/{tracer}/children") as children:
            return int(children.read().split()[0])
    except (OSError, ValueError, IndexError):
        return tracer
