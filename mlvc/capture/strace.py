"""Strict capture (`--trace=strict`): the command runs under `strace -f --seccomp-bpf`, which
sees every open, rename and exec of every process of the run, by pid, inside the workspace
and outside it. Only the traced syscalls stop the process (the seccomp filter lets the
others through), which keeps the cost near that of strace itself.

strace writes one file, each line prefixed with the pid; `-z` keeps only calls that
succeeded, and so holds each call's line until it has returned (no line is ever split
between two processes); `-y` names the directory a relative path is opened from
(`AT_FDCWD</cwd>`).
"""

from __future__ import annotations

import codecs
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from mlvc.capture.inotify import Seen
from mlvc.errors import MlvcError

SYSCALLS = "open,openat,openat2,creat,execve,execveat,rename,renameat,renameat2"
OUTPUT = "strace.out"
POLL_S = 0.05  # how often the output is read while the command runs


class StraceMissingError(MlvcError):
    pass


def command(argv: list[str], spool: Path) -> list[str]:
    """`argv` run under strace, writing into `spool`; raises when strace is missing."""
    strace = shutil.which("strace")
    if strace is None:
        raise StraceMissingError(
            "cannot trace strictly: strace is not installed",
            hint="install strace (apt-get install strace), or run with --trace=auto",
        )
    options = ["-f", "--seccomp-bpf", "-qq", "-z", "-y", "-s", "4096", "-e", "signal=none"]
    output = ["-e", f"trace={SYSCALLS}", "-o", str(spool / OUTPUT)]
    return [strace, *options, *output, "--", *argv]


_CALL = re.compile(r"^(?P<call>[a-z0-9]+)\((?P<args>.*)\) += (?P<ret>-?\d+)")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"(\.\.\.)?')
_DIRFD = re.compile(r"^(?:AT_FDCWD|\d+)<(?P<dir>(?:[^>\\]|\\.)*)>, ")
_READ_ONLY = "O_RDONLY"
_WRITE_FLAGS = ("O_WRONLY", "O_CREAT", "O_TRUNC", "O_APPEND")


class Reader:
    """Follows strace's output while the command runs, each line parsed once it is whole,
    so that little is left to read once the command has exited; `stop` then reads the
    rest. `cwd` is where the command started (a process's relative `open` before any
    `openat` of its own is taken from there)."""

    def __init__(self, spool: Path, cwd: Path) -> None:
        self.path = spool / OUTPUT
        self.seen = Seen("strict")
        self._start = str(cwd)
        self._where: dict[str, str] = {}  # pid -> its working directory, as last named
        # Most lines repeat but for their pid (every process opens the same libraries and
        # locale files): each distinct call is parsed once, from the directory it starts in.
        self._parsed: dict[tuple[str, str], _Call | None] = {}
        self._partial = b""
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> Seen:
        """What every traced process opened, renamed into place and executed; called
        once strace has exited, so its output is complete."""
        self._done.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.seen

    def _follow(self) -> None:
        try:
            handle = None
            while handle is None:
                finished = self._done.is_set()  # before the open: then it sees every line
                try:
                    handle = open(self.path, "rb")  # noqa: SIM115 - closed below
                except FileNotFoundError:  # not yet, or strace could not start
                    if finished:
                        return
                    self._done.wait(POLL_S)
            with handle:
                while True:
                    finished = self._done.is_set()  # before the read: then it reads the end
                    if data := handle.read():
                        self.feed(data)
                    elif finished:
                        break
                    else:
                        self._done.wait(POLL_S)
            self.feed(b"\n")  # a last line cut short (strace killed) is read as it is
        except BaseException as exc:  # re-raised by stop(), on the main thread
            self._error = exc

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the output; a line is parsed once its end has come."""
        data = self._partial + data
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        for line in data[:end].decode("latin-1").splitlines():
            self._line(line)

    def _line(self, line: str) -> None:
        pid, _, body = line.partition(" ")
        if not pid.isdigit():
            return
        base = self._where.get(pid, self._start)
        key = (body, base)
        call = self._parsed.get(key, _UNSEEN)
        if call is _UNSEEN:
            call = self._parsed[key] = _parse(body.lstrip(" "), base)
        if call is None:
            return
        if call.cwd is not None:
            self._where[pid] = call.cwd
        self.seen.reads.update(call.reads)
        self.seen.writes.update(call.writes)
        if call.argv is not None:
            self.seen.execs.append(list(call.argv))


@dataclass(frozen=True)
class _Call:
    """What one traced call says: paths read and written, an exec's argv, and the
    directory its process now works in (named by an AT_FDCWD dirfd), if it named one."""

    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    argv: tuple[str, ...] | None = None
    cwd: str | None = None


_UNSEEN = _Call()


def _parse(body: str, base: str) -> _Call | None:
    """One line without its pid, for a process working in `base`."""
    match = _CALL.match(body)
    if match is None:
        return None
    call, args = match["call"], match["args"]
    if call.startswith("execve"):
        argv = [_text(s) for s, _ in _STRING.findall(args.split("], ", 1)[0])]
        return _Call(argv=tuple(argv[1:] if call == "execveat" else argv))
    if call.startswith("rename"):
        paths, cwd = _paths(args, base)
        return _Call(writes=tuple(paths[-1:]), cwd=cwd)
    if call not in ("open", "openat", "openat2", "creat"):
        return None
    paths, cwd = _paths(args, base)
    if not paths or "O_DIRECTORY" in args:
        return _Call(cwd=cwd)
    flags = args.rsplit('", ', 1)[-1]
    written = call == "creat" or any(f in flags for f in _WRITE_FLAGS)
    read = call != "creat" and ("O_RDWR" in flags or _READ_ONLY in flags) and "O_TRUNC" not in flags
    return _Call(
        reads=tuple(paths[:1]) if read else (), writes=tuple(paths[:1]) if written else (), cwd=cwd
    )


def _paths(args: str, base: str) -> tuple[list[str], str | None]:
    """The absolute path of each path argument, and the process's working directory if
    an AT_FDCWD dirfd named it: a relative path is taken from the directory its dirfd
    names (-y), lexically, so a symlinked directory keeps its name."""
    found: list[str] = []
    cwd: str | None = None
    rest = args
    while True:
        start = cwd or base
        dirfd = _DIRFD.match(rest)
        if dirfd is not None:
            start = _text(dirfd["dir"])
            if rest.startswith("AT_FDCWD"):
                cwd = start
            rest = rest[dirfd.end() :]
        string = _STRING.match(rest)
        if string is None:
            return found, cwd
        name = _text(string[1])
        found.append(os.path.normpath(os.path.join(start, name)))
        rest = rest[string.end() :].lstrip(", ")


def _text(escaped: str) -> str:
    """A path as strace printed it (C escapes for unprintable bytes) back to a str."""
    raw = codecs.escape_decode(escaped.encode("latin-1"))[0]
    return os.fsdecode(raw)
