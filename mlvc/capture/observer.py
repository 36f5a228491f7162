"""Which capture mode watches a run's file access, and its life around the command.

- `inotify` (the default on Linux): watches on the workspace's directories see every
  process read workspace files, attributed to the run by time window.
- `strict`: strace sees every process's opens and execs, by pid, outside the workspace too.
- `python` (the fallback, and macOS): only the Python tracer, plus the before/after scan.

The Python tracer and the scans run in every mode; see docs/concepts.md#capture-modes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from mlvc.capture import inotify, programs
from mlvc.capture.inotify import Seen
from mlvc.config import TRACE_MODES
from mlvc.workspace.ignore import Ignore
from mlvc.workspace.scan import FileStat

if TYPE_CHECKING:
    from mlvc.capture import strace

MODES = TRACE_MODES


def choose(requested: str) -> str:
    """The mode that runs for `requested` (one of MODES) on this machine."""
    if requested in ("auto", "inotify"):
        return "inotify" if inotify.available() else "python"
    return requested


class Observer:
    """One mode's capture of one run: `command` wraps the argv, `start` before the command
    starts, `stop` once it has exited, `close` once the run is recorded."""

    def __init__(self, requested: str, root: Path, ignore: Ignore, spool: Path, cwd: Path) -> None:
        self.requested = requested
        self.mode = choose(requested)
        self.root, self.ignore, self.spool, self.cwd = root, ignore, spool, cwd
        self.notes: list[str] = []
        if requested == "inotify" and self.mode != "inotify":
            self.notes.append("inotify is not available here: only Python reads were seen")
        self._watcher: inotify.Watcher | None = None
        self._reader: strace.Reader | None = None

    @property
    def quiet_workspace(self) -> bool:
        """Whether mlvc must not read workspace files while the command runs (the mode
        would count mlvc's own reads, git's for the code patch, as the run's)."""
        return self.mode == "inotify"

    @property
    def wraps(self) -> bool:
        """Whether the command runs as the child of a tracer (strace)."""
        return self.mode == "strict"

    def command(self, argv: list[str]) -> list[str]:
        if self.mode != "strict":
            return argv
        from mlvc.capture import strace

        return strace.command(argv, self.spool)

    def start(self, before: dict[str, FileStat]) -> None:
        if self.mode == "strict":
            from mlvc.capture import strace

            self._reader = strace.Reader(self.spool, self.cwd)
            self._reader.start()
        if self.mode != "inotify":
            return
        links = {rel for rel, st in before.items() if st.kind == "symlink"}
        try:
            watcher = inotify.Watcher(self.root, self.ignore, self.spool)
            try:
                watcher.watch(inotify.watched_dirs(set(before)), links)
            except inotify.WatchLimitError:
                os.close(watcher.fd)
                raise
        except OSError as exc:  # the per-user limit of inotify instances, say
            self._fall_back(f"inotify cannot start ({exc.strerror})")
            return
        except inotify.WatchLimitError:
            limit = inotify.watch_limit()
            self._fall_back(
                f"the workspace needs more inotify watches than the per-user limit"
                f" ({limit}, {inotify.WATCH_LIMIT_FILE}) allows"
            )
            return
        watcher.start()
        self._watcher = watcher

    def _fall_back(self, why: str) -> None:
        self.mode = "python"
        self.notes.append(
            f"{why}: only Python reads were seen (raise the limit, or use --trace=strict)"
        )

    def stop(self) -> Seen:
        """What the mode saw; called once the command has exited (also when it failed)."""
        if self._watcher is not None:
            seen = self._watcher.stop()
        elif self._reader is not None:
            seen = self._reader.stop()
            real = os.path.realpath(self.root)
            seen.reads = {self._named(p, real) for p in seen.reads}
            seen.writes = {self._named(p, real) for p in seen.writes}
        else:
            seen = Seen(self.mode)
        seen.notes[:0] = self.notes
        return seen

    def close(self) -> None:
        """Release what the mode held; as late as possible: under inotify this waits out
        the kernel's teardown of the watches, which runs while the run is recorded."""
        if self._watcher is not None:
            self._watcher.close()

    def _named(self, path: str, real: str) -> str:
        """`path` as the workspace names it: strace names directories by their real path
        (`real`, the workspace's)."""
        if real != str(self.root) and (path == real or path.startswith(real + os.sep)):
            return str(self.root) + path[len(real) :]
        return path


def unseen_note(seen: Seen, argvs: list[list[str]], pythons: frozenset[str]) -> str | None:
    """The warning for a run whose non-Python programs' reads the mode could not see;
    `pythons` names the programs that ran as traced Python processes."""
    if seen.mode != "python":
        return None
    names = programs.unseen(argvs, pythons)
    if not names:
        return None
    listed = ", ".join(f"`{name}`" for name in names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return f"reads by {listed}{more} were not seen; declare them with -i"
