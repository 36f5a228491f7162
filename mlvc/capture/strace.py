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
from pathlib import Path

from mlvc.capture.inotify import Seen
from mlvc.errors import MlvcError

SYSCALLS = "open,openat,openat2,creat,execve,execveat,rename,renameat,renameat2"
OUTPUT = "strace.out"


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


_CALL = re.compile(r"^(?P<pid>\d+) +(?P<call>[a-z0-9]+)\((?P<args>.*)\) += (?P<ret>-?\d+)")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"(\.\.\.)?')
_DIRFD = re.compile(r"^(?:AT_FDCWD|\d+)<(?P<dir>(?:[^>\\]|\\.)*)>, ")
_READ_ONLY = "O_RDONLY"
_WRITE_FLAGS = ("O_WRONLY", "O_CREAT", "O_TRUNC", "O_APPEND")


def read(spool: Path, cwd: Path) -> Seen:
    """What every traced process opened, renamed into place and executed; `cwd` is
    where the command started (a process's relative `open` before any `openat` of its
    own is taken from there)."""
    seen = Seen("strict")
    where: dict[str, str] = {}  # pid -> its working directory, as its last *at call named it
    try:
        data = (spool / OUTPUT).read_bytes()
    except FileNotFoundError:  # strace could not start the command
        return seen
    for line in data.decode("latin-1").splitlines():
        _apply(seen, line, where, str(cwd))
    return seen


def _apply(seen: Seen, line: str, where: dict[str, str], cwd: str) -> None:
    match = _CALL.match(line)
    if match is None:
        return
    call, args, pid = match["call"], match["args"], match["pid"]
    if call.startswith("execve"):
        argv = [_text(s) for s, _ in _STRING.findall(args.split("], ", 1)[0])]
        seen.execs.append(argv[1:] if call == "execveat" else argv)
    elif call.startswith("rename"):
        paths = _paths(args, where, pid, cwd)
        if paths:
            seen.writes.add(paths[-1])
    elif call in ("open", "openat", "openat2", "creat"):
        paths = _paths(args, where, pid, cwd)
        if not paths or "O_DIRECTORY" in args:
            return
        flags = args.rsplit('", ', 1)[-1]
        if call == "creat" or any(f in flags for f in _WRITE_FLAGS):
            seen.writes.add(paths[0])
        if (
            call != "creat"
            and ("O_RDWR" in flags or _READ_ONLY in flags)
            and "O_TRUNC" not in flags
        ):
            seen.reads.add(paths[0])


def _paths(args: str, where: dict[str, str], pid: str, cwd: str) -> list[str]:
    """The absolute path of each path argument: a relative one is taken from the
    directory its dirfd names (-y), lexically, so a symlinked directory keeps its name."""
    found: list[str] = []
    rest = args
    while True:
        base = where.get(pid, cwd)
        dirfd = _DIRFD.match(rest)
        if dirfd is not None:
            base = _text(dirfd["dir"])
            if rest.startswith("AT_FDCWD"):
                where[pid] = base
            rest = rest[dirfd.end() :]
        string = _STRING.match(rest)
        if string is None:
            return found
        name = _text(string[1])
        found.append(os.path.normpath(os.path.join(base, name)))
        rest = rest[string.end() :].lstrip(", ")


def _text(escaped: str) -> str:
    """A path as strace printed it (C escapes for unprintable bytes) back to a str."""
    raw = codecs.escape_decode(escaped.encode("latin-1"))[0]
    return os.fsdecode(raw)
