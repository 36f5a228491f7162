"""The default capture mode on Linux: inotify watches on the workspace's directories (via
ctypes, no compiled code) see every process open, read and write workspace files, whatever
the program, without a pid.

Each event only names a path, so a run's events are attributed to it by time window:
the watcher starts after the before-scan and is drained after the command exits. Draining
is exact, not timed: events of one inotify instance come out in the order they happened,
so once the watcher sees the creation of a marker file it made after the command exited,
every event the command caused has been read. `stop` wakes the reader from its pause
between batches, so the drain takes no longer than reading what is queued; the reader
then closes the inotify descriptor, which blocks for a kernel grace period (5-25 ms)
while the run is recorded (`close` waits for it, at the end).

IN_OPEN does not say the open's mode, so a path counts as read when a read happened
(IN_ACCESS), when it was closed after a read-only open (IN_CLOSE_NOWRITE), or when it
was opened and nothing ever wrote it (a file still open, or only mapped, at the end).
A file opened only to be written (`> out`, `cp a b`, `>>`) never counts as read.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import struct
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from mlvc.workspace.ignore import Ignore

IN_ACCESS = 0x1
IN_MODIFY = 0x2
IN_CLOSE_WRITE = 0x8
IN_CLOSE_NOWRITE = 0x10
IN_OPEN = 0x20
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_Q_OVERFLOW = 0x4000
IN_ONLYDIR = 0x01000000
IN_ISDIR = 0x40000000
_NONBLOCK_CLOEXEC = os.O_NONBLOCK | os.O_CLOEXEC
_WATCHED = (
    IN_ACCESS | IN_MODIFY | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_OPEN | IN_CREATE | IN_MOVED_TO
)
_WRITTEN = IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO
_HEADER = struct.Struct("iIII")
MARKER = "inotify-drained"
BATCH_S = 0.005
DRAIN_TIMEOUT_S = 30.0  # only reached if the kernel lost the marker's event (an overflow)
WATCH_LIMIT_FILE = "/proc/sys/fs/inotify/max_user_watches"
# Since Linux 5.11 each user namespace has its own limit too; the lower one applies.
_NAMESPACE_LIMIT_FILE = "/proc/sys/user/max_inotify_watches"


class WatchLimitError(Exception):
    """The per-user inotify watch limit was reached: the workspace is not fully watched."""


@dataclass
class Seen:
    """What a capture mode saw besides the Python tracer: absolute paths as the workspace
    names them, and the programs started (argv lists; strict mode only)."""

    mode: str
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    execs: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def available() -> bool:
    return sys.platform.startswith("linux") and _libc() is not None


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1, libc.inotify_add_watch  # noqa: B018 - present on Linux only
    except (OSError, AttributeError):
        return None
    return libc


class Watcher:
    """Watches the workspace's directories from `start` until `stop` returns what it saw."""

    def __init__(self, root: Path, ignore: Ignore, spool: Path) -> None:
        libc = _libc()
        if libc is None:
            raise OSError(errno.ENOSYS, "inotify is not available")
        self._libc = libc
        self.root = str(root)
        self.ignore = ignore
        self.spool = spool
        self.fd = libc.inotify_init1(_NONBLOCK_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.dirs: dict[int, str] = {}
        self.masks: dict[str, int] = {}
        self.visited: set[tuple[int, int]] = set()
        self.overflowed = False
        self.limited = False
        try:
            self._marker_wd = self._add(str(spool), IN_CREATE)
            self._spool_inode = os.stat(spool).st_ino
        except (WatchLimitError, OSError):
            os.close(self.fd)
            raise
        self._stopping = threading.Event()  # set by stop: no more pauses between batches
        self._drained = threading.Event()  # set once the marker's event has been read
        self._thread = threading.Thread(target=self._read_events, daemon=True)

    def watch(self, dirs: set[str], links: set[str]) -> None:
        """Watch the workspace's directories `dirs` ("" is the root) and, below each of
        the symlinks `links` that leads to a directory, every directory; raises
        WatchLimitError when the per-user limit is hit."""
        for rel in sorted(dirs):
            self._watch_dir(rel, follow=False)
        for rel in sorted(links):
            if os.path.isdir(os.path.join(self.root, rel)):
                self._watch_dir(rel, follow=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> Seen:
        """Drain every event up to now, stop watching, and say what was read and written."""
        seen = Seen("inotify")
        try:
            (self.spool / MARKER).touch()
            watched = os.stat(self.spool).st_ino == self._spool_inode
        except OSError:
            watched = False
        finally:
            self._stopping.set()
        # Not watched: the command removed the spool, so no marker event will come (the
        # run notes the removal itself, whatever the capture mode).
        if watched and (not self._drained.wait(DRAIN_TIMEOUT_S) or self.overflowed):
            seen.notes.append(
                "the kernel's inotify queue overflowed: some reads may be missing"
                " (declare them with -i, or use --trace=strict)"
            )
        # A copy: without the marker's event (the spool removed, or lost to an overflow)
        # the reader is still adding the events of whatever runs on.
        for path, mask in self.masks.copy().items():
            if mask & _WRITTEN:
                seen.writes.add(path)
            if mask & (IN_ACCESS | IN_CLOSE_NOWRITE) or (mask & IN_OPEN and not mask & _WRITTEN):
                seen.reads.add(path)
        return seen

    def close(self) -> None:
        """Wait until the reader has closed the descriptor (after `stop`). A reader still
        waiting for the marker (its event lost to an overflow) is left to the process's
        exit, as a daemon thread."""
        if self._drained.is_set():
            self._thread.join()

    def _add(self, path: str, mask: int) -> int:
        wd: int = self._libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            code = ctypes.get_errno()
            if code == errno.ENOSPC:
                self.limited = True
                raise WatchLimitError(path)
            return -1  # gone, unreadable or not a directory: nothing to watch there
        return wd

    def _watch_dir(self, rel: str, follow: bool) -> None:
        """Watch `rel`; with `follow`, every directory below it too (a directory created
        during the run, or one a symlink leads to)."""
        stack = [rel]
        while stack:
            current = stack.pop()
            path = os.path.join(self.root, current) if current else self.root
            try:
                st = os.stat(path)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in self.visited:
                continue  # a symlink loop, or a directory reached twice
            self.visited.add((st.st_dev, st.st_ino))
            wd = self._add(path, _WATCHED | IN_ONLYDIR)
            if wd >= 0:
                self.dirs.setdefault(wd, path)
            if follow:
                stack += self._below(current)

    def _below(self, rel: str) -> list[str]:
        """The subdirectories of `rel` the ignore rules keep, symlinked ones included."""
        found = []
        prefix = f"{rel}/" if rel else ""
        try:
            with os.scandir(os.path.join(self.root, rel) if rel else self.root) as entries:
                for entry in entries:
                    child = prefix + entry.name
                    if not entry.is_dir():
                        continue
                    if not self.ignore.skips_dir(child, entry.name, Path(entry.path)):
                        found.append(child)
        except OSError:
            pass
        return found

    def _read_events(self) -> None:
        try:
            self._read_until_marker()
        finally:
            self._drained.set()
            os.close(self.fd)  # slow (see the module's doc): here, not on the main thread

    def _read_until_marker(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while True:
            poller.poll()
            try:
                data = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                continue
            except OSError:
                return
            if self._apply(data):
                return
            # Let events gather: one wake-up per batch, not per event, costs the command
            # less CPU (and identical events queued back to back are merged). The queue
            # holds 16384 events by default; 200 batches a second empty it in time.
            # Once stop() has made the marker, no pause: the drain is all that is left.
            self._stopping.wait(BATCH_S)

    def _apply(self, data: bytes) -> bool:
        """Note each event of `data`; True once the marker's event is among them."""
        offset, end = 0, len(data)
        while offset < end:
            wd, mask, _cookie, size = _HEADER.unpack_from(data, offset)
            offset += _HEADER.size
            name = data[offset : offset + size].rstrip(b"\0")
            offset += size
            if mask & IN_Q_OVERFLOW:
                self.overflowed = True
            elif wd == self._marker_wd:
                if name == MARKER.encode():
                    return True
            elif wd in self.dirs and name:
                path = f"{self.dirs[wd]}/{os.fsdecode(name)}"
                if mask & IN_ISDIR:
                    if mask & (IN_CREATE | IN_MOVED_TO):
                        self._watch_new(path)
                else:
                    self.masks[path] = self.masks.get(path, 0) | mask
        return False

    def _watch_new(self, path: str) -> None:
        rel = path[len(self.root) + 1 :]
        name = rel.rsplit("/", 1)[-1]
        if self.ignore.skips_dir(rel, name, Path(path)):
            return
        # At the limit: a new directory's files are outputs, which the scan sees anyway.
        with contextlib.suppress(WatchLimitError):
            self._watch_dir(rel, follow=True)


def watched_dirs(before: set[str]) -> set[str]:
    """The workspace's directories holding a file the before-scan found, and the root."""
    dirs = {""}
    for rel in before:
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return dirs


def watch_limit() -> int | None:
    """The per-user limit of inotify watches in force here (None: unknown)."""
    limits = []
    for name in (WATCH_LIMIT_FILE, _NAMESPACE_LIMIT_FILE):
        try:
            limits.append(int(Path(name).read_text().strip()))
        except (OSError, ValueError):
            continue
    return min(limits, default=None)
