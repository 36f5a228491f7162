"""Durable file-system primitives: atomic replace, directory fsync, disk-full mapping."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from mlvc.errors import DiskFullError


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """`os.write` until every byte is written (a pipe or a signal may cut a write short)."""
    done = os.write(fd, data)
    if done < len(data):
        view = memoryview(data)[done:]
        while view:
            view = view[os.write(fd, view) :]


def read_small_file(path: str) -> bytes:
    """A small file's whole content, through bare descriptors: `open()` builds a file
    object per call, which costs twice the read itself for a 4 KiB file."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 1 << 16)
        if not data:
            return data
        parts = [data]  # read to the end: a read may return less than there is
        while block := os.read(fd, 1 << 20):
            parts.append(block)
        return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


def temp_name(directory: Path, suffix: str = ".tmp") -> Path:
    return directory / f"tmp-{os.getpid()}-{os.urandom(6).hex()}{suffix}"


def atomic_write(path: Path, data: bytes) -> None:
    """Temp file in the same directory, write, fsync, rename, fsync the directory."""
    tmp = temp_name(path.parent)
    try:
        with disk_errors(path), open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (made if need be) for the block: two commands
    that read, change and write the same small file (the config) go one after the
    other. Waits; the kernel drops the lock of a killed process."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def disk_errors(path: Path | str) -> Iterator[None]:
    """Turn ENOSPC/EDQUOT/EFBIG into DiskFullError naming the path."""
    try:
        yield
    except OSError as exc:
        full = disk_full(exc, path)
        if full is None:
            raise
        raise full from None


def disk_full(exc: OSError, path: Path | str) -> DiskFullError | None:
    """The DiskFullError an OSError means, or None when it means something else."""
    if exc.errno == errno.EFBIG:
        return DiskFullError(
            f"file too large while writing {path} (a file-size limit or the file system's)",
            hint="raise the limit (ulimit -f) and run the command again; nothing was recorded",
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"no space left on the device while writing {path}",
            hint="free some space and run the command again; nothing was recorded",
        )
    return None


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine: what tells a file left by a killed
    process (a temporary pack, a lock) from one a live process still owns."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True
