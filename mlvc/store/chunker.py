"""Content-defined chunking (FastCDC) and the parallel hashing of a file's bytes.

One pass over the file yields the file id (BLAKE3 of all bytes, as `b3sum` prints) and
its chunks with their ids. Reading is buffered, never mmap: a file truncated under us
must end in an error, not a SIGBUS. pyfastcdc and blake3 release the GIL, so the whole-
file hash, the cutting and the chunk hashes run on all cores.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, BinaryIO

import blake3

from mlvc.config import ChunkParams
from mlvc.ids import ObjectId

if TYPE_CHECKING:  # both imported on first use: `hash_file` callers need neither
    from concurrent.futures import Future, ThreadPoolExecutor

BLOCK = 32 << 20
_pool: ThreadPoolExecutor | None = None


def pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mlvc-hash")
    return _pool


Batch = list[tuple[ObjectId, memoryview]]


def block_for(size: int) -> int:
    """The read block for a file of `size` bytes: the file in one read (one byte more, so
    that the read ends short and says the file ended) up to BLOCK. A zeroed 32 MiB buffer
    costs ~60 ms, far more than reading a small file."""
    return max(1, min(BLOCK, size + 1))


def _hash_all(views: list[memoryview]) -> list[ObjectId]:
    return [ObjectId(blake3.blake3(v).digest()) for v in views]


def _hash_parallel(views: list[memoryview]) -> list[ObjectId]:
    if len(views) < 8:
        return _hash_all(views)
    half = len(views) // 2
    first = pool().submit(_hash_all, views[:half])
    rest = _hash_all(views[half:])
    return first.result() + rest


class ChunkedRead:
    """Reads a stream once: `batches()` yields (chunk id, bytes) lists; then `file_id`.

    Chunk boundaries depend on content and params only, never on the read block size:
    the last, possibly cut-short, chunk of each block is carried into the next.
    """

    def __init__(self, params: ChunkParams, block: int = BLOCK) -> None:
        self.params = params
        self.block = block
        from pyfastcdc.cy import FastCDC

        self._cdc = FastCDC(
            params.avg_size, min_size=params.min_size, max_size=params.max_size, seed=params.seed
        )
        self._whole = blake3.blake3()
        self.size = 0
        self.file_id: ObjectId | None = None

    def batches(
        self, handle: BinaryIO, on_bytes: Callable[[int], None] | None = None
    ) -> Generator[Batch, None, None]:
        """Each block is read on a pool thread while the one before is cut and hashed: a
        file the page cache does not hold reads at the disk's speed beside the hashing
        (a 20 GiB add took the reads' time plus the hashing's)."""
        # Two buffers, used in turn, each with room in front for the chunk carried over
        # from the block before: a block's chunks stay valid while the caller stores
        # them, the next block is read into the other buffer meanwhile (once the whole-
        # file hash of the block that was there has ended). The second buffer is made
        # only when a second block is read: most files fit in one.
        room = self.params.max_size
        buffers = [bytearray(room + self.block)]
        turn = 0
        carry = b""
        hashing: Future[object] | None = None
        reading: Future[int] | None = None
        try:
            filled = _read_full(handle, memoryview(buffers[0])[room:])
            while True:
                at_end = filled < self.block
                if hashing is not None:
                    hashing.result()
                if not at_end:
                    if len(buffers) == 1:
                        buffers.append(bytearray(room + self.block))
                    reading = pool().submit(
                        _read_full, handle, memoryview(buffers[1 - turn])[room:]
                    )
                view = memoryview(buffers[turn])
                fresh = view[room : room + filled]
                self.size += filled
                hashing = None
                if at_end and self.size == filled:  # the whole file in one read: no thread
                    self._whole.update(fresh)
                elif filled:
                    hashing = pool().submit(self._whole.update, fresh)
                view[room - len(carry) : room] = carry
                data = view[room - len(carry) : room + filled]
                chunks = [c.data for c in self._cdc.cut_buf(data)] if data else []
                if not at_end and chunks:
                    carry = bytes(chunks.pop())
                ids = _hash_parallel(chunks)
                yield list(zip(ids, chunks, strict=True))
                if on_bytes is not None:
                    on_bytes(filled)
                if reading is None:
                    break
                filled = reading.result()
                reading = None
                turn = 1 - turn
            if hashing is not None:
                hashing.result()
        finally:  # stopped early: the caller may close the file once no read is under way
            for left in (reading, hashing):
                if left is not None:
                    left.exception()
        self.file_id = ObjectId(self._whole.digest())


def _read_full(handle: BinaryIO, view: memoryview) -> int:
    filled = 0
    while filled < len(view):
        got = handle.readinto(view[filled:])  # type: ignore[attr-defined]
        if not got:
            break
        filled += got
    return filled


def cut(data: bytes, params: ChunkParams) -> list[bytes]:
    """Chunk an in-memory buffer: the reference the streaming path must agree with."""
    from pyfastcdc.cy import FastCDC

    cdc = FastCDC(
        params.avg_size, min_size=params.min_size, max_size=params.max_size, seed=params.seed
    )
    return [bytes(c.data) for c in cdc.cut_buf(data)] if data else []


def hash_file(path: str | bytes | os.PathLike[str]) -> tuple[ObjectId, int]:
    """The file id of a file on disk without storing anything, and its size."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    size = 0
    with open(path, "rb", buffering=0) as handle:
        buffer = bytearray(block_for(os.fstat(handle.fileno()).st_size))
        view = memoryview(buffer)
        while filled := _read_full(handle, view):
            hasher.update(view[:filled])
            size += filled
            if filled < len(view):
                break
    return ObjectId(hasher.digest()), size
