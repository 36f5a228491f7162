"""The sink a pack is written through: sequential writes staged in page-aligned buffers,
handed to a writer thread that uses O_DIRECT where the file system allows it."""

from __future__ import annotations

import errno
import mmap
import os
import queue
import threading
from pathlib import Path

_STAGING: list[mmap.mmap] = []


def _staging() -> mmap.mmap:
    """A page-aligned staging buffer, reused across packs: fresh anonymous maps cost a
    page fault per 4 KiB, which showed up as a quarter of the time of a large add."""
    return _STAGING.pop() if _STAGING else mmap.mmap(-1, Sink.BLOCK)


# A copy into a staging buffer this large releases the GIL (see `copy_into`).
FREE_COPY = 16 << 10


def copy_into(buf: mmap.mmap, at: int, view: memoryview) -> None:
    """`view`'s bytes into `buf` from offset `at`. A large writable view is copied by
    ctypes' memmove, which releases the GIL; a slice assignment holds it, and meanwhile
    the thread cutting the next block of an add (pyfastcdc takes the GIL back after each
    chunk) waited: a 2 GiB add spent a fifth of its time so."""
    end = at + len(view)
    if end > len(buf):
        raise ValueError(f"a copy of {len(view)} bytes at {at} overruns a {len(buf)}-byte buffer")
    if len(view) < FREE_COPY or view.readonly:
        buf[at:end] = view
        return
    import ctypes  # only writers of large entries need it

    target = ctypes.addressof(ctypes.c_char.from_buffer(buf, at))
    ctypes.memmove(target, ctypes.addressof(ctypes.c_char.from_buffer(view)), len(view))


class Sink:
    """Sequential writes to a new file, through aligned staging buffers.

    Full buffers go to a writer thread that uses O_DIRECT where the file system allows
    it: on the VMs we measured, page-cache writes of GiB-sized data ran at a quarter
    of the device speed, and O_DIRECT also makes the bytes durable as they land. The
    unaligned tail is written through an ordinary descriptor at close.
    """

    BLOCK = 8 << 20

    def __init__(self, path: Path, direct: bool) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.direct_fd = -1
        if direct and hasattr(os, "O_DIRECT"):
            try:
                self.direct_fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
            except OSError:
                self.direct_fd = -1
        self.size = 0
        self._flushed = 0
        self._buf = _staging()
        self._released = False
        self._pos = 0
        self._queue: queue.Queue[tuple[mmap.mmap, int, int] | None] = queue.Queue(maxsize=3)
        self._free: queue.Queue[mmap.mmap] = queue.Queue()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def write(self, data: bytes | memoryview) -> None:
        end = self._pos + len(data)
        if end < self.BLOCK and type(data) is bytes:  # most writes: one small entry
            self._buf[self._pos : end] = data
            self._pos = end
            self.size += len(data)
            return
        view = memoryview(data).cast("B")
        self.size += len(view)
        while view:
            take = min(len(view), self.BLOCK - self._pos)
            copy_into(self._buf, self._pos, view[:take])
            self._pos += take
            view = view[take:]
            if self._pos == self.BLOCK:
                self._hand_off()

    def _hand_off(self) -> None:
        if self._error is not None:
            raise self._error
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, daemon=True)
            self._thread.start()
            for _ in range(2):
                self._free.put(_staging())
        self._queue.put((self._buf, self._flushed, self._pos))
        self._flushed += self._pos
        self._buf = self._free.get()
        self._pos = 0

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            buf, offset, length = item
            try:
                if self._error is None:
                    self._write_at(memoryview(buf)[:length], offset)
            except BaseException as exc:
                self._error = exc
            self._free.put(buf)

    def _write_at(self, view: memoryview, offset: int) -> None:
        while view:
            fd = self.direct_fd if self.direct_fd >= 0 and len(view) % 4096 == 0 else self.fd
            try:
                written = os.pwrite(fd, view, offset)
            except OSError as exc:
                if fd == self.direct_fd and exc.errno == errno.EINVAL:
                    os.close(self.direct_fd)
                    self.direct_fd = -1
                    continue
                raise
            view = view[written:]
            offset += written

    def finish(self) -> None:
        """Write the tail and wait for the writer. Raises what the writer hit."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error
        self._write_at(memoryview(self._buf)[: self._pos], self._flushed)
        self._release()

    def _release(self) -> None:
        if self._released:
            return
        self._released = True
        _STAGING.append(self._buf)
        while not self._free.empty():
            _STAGING.append(self._free.get())

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._release()
        for fd in (self.fd, self.direct_fd):
            if fd >= 0:
                os.close(fd)
        self.fd = self.direct_fd = -1
