"""A run's spool directory in `.mlvc/tmp`: where its traced processes report, locked for
the run's life so that a spool left by a killed run is known to be dead.

A live spool is `run-<pid>-<random>/` whose `lock` file its run holds an exclusive
flock on; the kernel drops the lock when the run's process dies, however it dies. The
spool is made under a staging name and renamed into place with the lock already held,
so no other run ever sees a live spool whose lock is free. A spool whose lock is free
(or that has no lock file: one written before spools were locked) is stale: it is
ignored and removed by the next run that looks.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LOCK = "lock"
DONE_KEPT_S = 86400  # a finished run's list of written paths, for runs that overlapped it


@dataclass
class Spool:
    path: Path
    fd: int  # holds the flock on path/lock until `finish`

    @classmethod
    def create(cls, tmp: Path) -> Spool:
        reclaim(tmp)
        path = _new_name(tmp)
        return cls(path, _made_live(path))

    def restore(self) -> bool:
        """Make the spool again if the command removed it (a cleanup of `.mlvc/tmp`):
        live, or the next run that looks removes it while this one still writes its logs
        there; and under a new name, which no run that found the old one free (its lock
        file gone first) may still be removing. Whether it had to."""
        if self.path.is_dir():
            return False
        path = _new_name(self.path.parent)
        fd = _made_live(path)
        os.close(self.fd)
        self.path, self.fd = path, fd
        return True

    def finish(self) -> None:
        """Leave the list of paths this run wrote for concurrent runs, drop the spool.
        The lock is released last: until then the spool is live, so a concurrent run
        reads its writes either from it or from the list."""
        if self.fd < 0:
            return
        try:
            written: set[str] = set()
            for path in self.path.glob("*.trace"):
                written |= _written(path.read_bytes())
            # Written even when empty: it also tells a concurrent run that this one overlapped it.
            done = self.path.with_name(self.path.name.replace("run-", "done-", 1) + ".writes")
            done.write_text("\n".join(sorted(written)), "utf-8", "surrogateescape")
            _remove_tree(self.path)
        finally:  # a spool left behind (a full disk) is stale from here on, and reclaimed
            os.close(self.fd)
            self.fd = -1


def _new_name(tmp: Path) -> Path:
    return tmp / f"run-{os.getpid()}-{os.urandom(6).hex()}"


def _made_live(path: Path) -> int:
    """The spool directory `path` made with its lock held (the descriptor holding it):
    made under a staging name and renamed, so nobody ever sees it free."""
    staging = path.with_name(path.name.replace("run-", "new-", 1))
    staging.mkdir(parents=True)
    fd = os.open(staging / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # nobody else knows this file: never waits
        os.rename(staging, path)
    except BaseException:
        os.close(fd)
        _remove_tree(staging)
        raise
    return fd


def is_live(spool: Path) -> bool:
    """True while the run that made `spool` holds its lock (it is still running)."""
    try:
        fd = os.open(spool / LOCK, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # no lock file (an older mlvc's spool, or half removed): not live
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # a shared probe: two runs probing at once do not block each other
    return False


def live_spools(tmp: Path, own: Path | None = None) -> Iterator[Path]:
    """The spools of runs in progress other than `own`; stale ones are removed."""
    for spool in tmp.glob("run-*"):
        if spool == own or not spool.is_dir():
            continue
        if is_live(spool):
            yield spool
        else:
            _remove_tree(spool)


def writes_of_others(tmp: Path, own: Path, since_ns: int) -> set[str]:
    """Paths other runs in this workspace traced as written while we ran: a concurrent
    run's outputs show up in our before/after scan too, and are not ours. Runs still in
    progress have a live spool; finished ones leave a `done-*.writes` list for a while.
    A stale spool (its run was killed) says nothing about this run and is ignored."""
    others: set[str] = set()
    for spool in live_spools(tmp, own):
        for path in spool.glob("*.trace"):
            with contextlib.suppress(FileNotFoundError):  # the run finished meanwhile
                others |= _written(path.read_bytes())
    for done in tmp.glob("done-*.writes"):
        try:
            if done.stat().st_mtime_ns >= since_ns:
                others |= set(done.read_text("utf-8", "surrogateescape").splitlines())
        except FileNotFoundError:
            continue
    return others


def overlapping(tmp: Path, own: Path, since_ns: int) -> bool:
    """Whether another run in this workspace was in progress at some time since
    `since_ns`: one still live, or one that finished since (its `done-*` list)."""
    if next(live_spools(tmp, own), None) is not None:
        return True
    for done in tmp.glob("done-*.writes"):
        try:
            if done.stat().st_mtime_ns >= since_ns:
                return True
        except FileNotFoundError:
            continue
    return False


def _remove_tree(path: Path, ignore_errors: bool = True) -> None:
    import shutil  # ~3 ms with its compression modules: not needed to start a command

    shutil.rmtree(path, ignore_errors=ignore_errors)


def _written(data: bytes) -> set[str]:
    import json  # on use: not needed to start a command

    found = set()
    for line in data.splitlines():
        if line.startswith(b'["w"'):
            try:
                found.add(json.loads(line.decode("utf-8", "surrogateescape"))[1])
            except (ValueError, IndexError):
                continue
    return found


def reclaim(tmp: Path, older_than_s: float = DONE_KEPT_S) -> None:
    """Remove stale spools now; old lists, caches and staging directories (a process
    killed between `mkdir` and `rename`: they are never read) after a day."""
    list(live_spools(tmp))
    limit = time.time() - older_than_s
    for path in [*tmp.glob("done-*.writes"), *tmp.glob("installed-*"), *tmp.glob("new-*")]:
        try:
            if path.stat().st_mtime < limit:
                _remove_tree(path, False) if path.is_dir() else path.unlink()
        except OSError:
            continue
