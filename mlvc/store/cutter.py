"""Cutting a large file in a forked process: FastCDC and the chunk hashes run there, out
of reach of this process's GIL.

pyfastcdc takes the GIL back after every chunk it cuts, as blake3 does after every
chunk it hashes (some 13,000 times a GiB each). In one process the threads that read,
store and hash the whole file hold the GIL meanwhile: in a 2 GiB add the cutting waited
for it about as long as it worked. Here a child reads each block into one of three
shared buffers, cuts it and hashes its chunks, and sends their lengths and ids; this
process hashes the block into the file id, stores its new chunks (`take`), and hands
the buffer back. A child that cannot be made, or ends before the file does, leaves the
file to be read here (`ChunkedRead`), from the start.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import blake3

from mlvc import forked
from mlvc.config import ChunkParams
from mlvc.ids import ObjectId
from mlvc.store.chunker import (
    Batch,
    ChunkedRead,
    block_for,
    cut_block,
    fastcdc,
    hash_each,
    pool,
    take_behind,
)

if TYPE_CHECKING:
    from mlvc.objects import Part

APART_MIN = 128 << 20  # bytes: a smaller file is cut here (a fork costs more than it saves)
_BUFFERS = 3  # the block taken here, the one whose chunks the child hashes, the one it cuts
_LENGTH = struct.Struct("<I")
_CAN_FORK = hasattr(os, "fork") and hasattr(os, "preadv")


def cut_and_take(
    handle: BinaryIO,
    size: int,
    params: ChunkParams,
    guide: Sequence[Part] | None,
    take: Callable[[Batch], None],
    progress: Callable[[int], None] | None,
    restart: Callable[[], None],
    compressed: bool,
) -> tuple[ObjectId, int]:
    """Cut the file open as `handle` (`size` bytes by its last stat) and give each block's
    chunks to `take`, in order: its file id and the size read. It is cut here beside a
    guide (the file's previous chunks, see chunker.Guide), below APART_MIN, and when its
    chunks are `compressed`: compression keeps both cores busy in this process, and a
    child only adds its own cost (a 257 MiB CSV: 1.08-1.42 s apart, 1.01-1.09 s here).
    `restart` is called before the file is cut here again from its start, after a child
    that ended part way (`progress` then hears of the blocks it had sent twice)."""
    block = block_for(size)
    if guide is None and not compressed and size >= APART_MIN and _CAN_FORK:
        found = _cut_apart(handle.fileno(), params, block, take, progress)
        if found is not None:
            return found
        restart()
    reader = ChunkedRead(params, block, guide)
    if block > size:  # one block: nothing to do beside it
        for batch in reader.batches(handle, progress):
            take(batch)
    else:
        take_behind(reader.batches(handle, progress, lag=1), take)
    assert reader.file_id is not None
    return reader.file_id, reader.size


class _Taken:
    """What this process has taken of the child's blocks, and the pipe that gives their
    buffers back (its reading end is the child's: closed here once the child has it)."""

    def __init__(self) -> None:
        self.whole = blake3.blake3()
        self.size = 0
        self.ended = False
        self.back_read, self.back_write = os.pipe()
        self._reading_open = True

    def close_reading(self) -> None:
        if self._reading_open:
            self._reading_open = False
            os.close(self.back_read)

    def close(self) -> None:
        self.close_reading()
        os.close(self.back_write)


def _cut_apart(
    fd: int,
    params: ChunkParams,
    block: int,
    take: Callable[[Batch], None],
    progress: Callable[[int], None] | None,
) -> tuple[ObjectId, int] | None:
    """The file id and size, or None when no child cut the whole file."""
    room = params.max_size
    buffers = [mmap.mmap(-1, room + block) for _ in range(_BUFFERS)]  # shared with the child
    taken = _Taken()

    def there(send: forked.Send) -> None:
        os.close(taken.back_write)
        with contextlib.suppress(OSError):  # the file could not be read: cut here instead
            _cut_blocks(fd, params, block, buffers, taken.back_read, send)

    def on_block(item: list[Any]) -> None:
        taken.close_reading()
        number, start, filled, at_end, lengths, ids = item
        view = memoryview(buffers[number])
        hashing = pool().submit(taken.whole.update, view[room : room + filled])
        batch: Batch = []
        at = start
        for n, (length,) in enumerate(_LENGTH.iter_unpack(lengths)):
            batch.append((ObjectId(ids[32 * n : 32 * n + 32]), view[at : at + length]))
            at += length
        try:
            take(batch)
        finally:
            hashing.result()  # the buffer is given back, or closed, only once hashed
        taken.size += filled
        if progress is not None:
            progress(filled)
        taken.ended = at_end
        if not at_end:
            with contextlib.suppress(BrokenPipeError):  # the child is gone: its pipe ends
                os.write(taken.back_write, b"\0")

    try:
        _, done = forked.stream(_nothing_here, there, on_block, die_with_parent=True)
    finally:
        taken.close()
        for buffer in buffers:
            with contextlib.suppress(BufferError):  # a view still held: freed with it
                buffer.close()
    if not (done and taken.ended):
        return None
    return ObjectId(taken.whole.digest()), taken.size


def _cut_blocks(
    fd: int,
    params: ChunkParams,
    block: int,
    buffers: list[mmap.mmap],
    back: int,
    send: forked.Send,
) -> None:
    """In the child: each block read into the next buffer (once the parent gave it back)
    and cut, while a thread hashes the chunks of the block before; the last chunk of a
    block that is not the file's last is carried into the next block, as ChunkedRead
    does."""
    from concurrent.futures import Future, ThreadPoolExecutor

    cdc = fastcdc(params)
    room, offset, carry = params.max_size, 0, b""
    cut: tuple[list[Any], Future[list[ObjectId]]] | None = None  # a block cut, its chunks hashing
    with ThreadPoolExecutor(1) as hasher:
        for n in range(1 << 62):
            number = n % len(buffers)
            if n >= len(buffers) and not os.read(back, 1):
                return  # the parent stopped taking
            view = memoryview(buffers[number])
            start = room - len(carry)
            view[start:room] = carry
            filled = _read_at(fd, view[room : room + block], offset)
            offset += filled
            _read_ahead(fd, offset, 2 * block)
            at_end = filled < block
            chunks, carry = cut_block(cdc, view[start : room + filled], at_end)
            if cut is not None:
                send([*cut[0], b"".join(cut[1].result())])
            lengths = b"".join(_LENGTH.pack(len(chunk)) for chunk in chunks)
            cut = ([number, start, filled, at_end, lengths], hasher.submit(hash_each, chunks))
            if at_end:
                send([*cut[0], b"".join(cut[1].result())])
                return


def _read_ahead(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to read the next blocks meanwhile: a file the page cache does not
    hold is then read at the disk's speed beside the cutting, not after it (a 20 GiB add
    took 41.8 s without, against 29.5 s when a thread read ahead in-process)."""
    with contextlib.suppress(OSError, AttributeError):  # only a hint
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_WILLNEED)


def _read_at(fd: int, view: memoryview, offset: int) -> int:
    filled = 0
    while filled < len(view):
        got = os.preadv(fd, [view[filled:]], offset + filled)
        if not got:
            break
        filled += got
    return filled


def _nothing_here(poll: Callable[[], None]) -> None:
    """This process waits for the child's blocks (`forked.stream` takes them)."""
