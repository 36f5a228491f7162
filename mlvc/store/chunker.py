"""Content-defined chunking (FastCDC) and the parallel hashing of a file's bytes.

One pass over the file yields the file id (BLAKE3 of all bytes, as `b3sum` prints) and
its chunks with their ids. Reading is buffered, never mmap: a file truncated under us
must end in an error, not a SIGBUS. pyfastcdc and blake3 release the GIL, so the whole-
file hash, the cutting and the chunk hashes run on all cores.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import blake3

from mlvc.config import ChunkParams
from mlvc.ids import ObjectId

if TYPE_CHECKING:  # both imported on first use: `hash_file` callers need neither
    from concurrent.futures import Future, ThreadPoolExecutor

    from mlvc.objects import Part

BLOCK = 32 << 20
_pool: ThreadPoolExecutor | None = None


def pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mlvc-hash")
    return _pool


def _forget_pool() -> None:
    """In a forked child: the parent's pool has no threads there (work given to it would
    wait forever); the child makes its own when it needs one."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


Batch = list[tuple[ObjectId, memoryview]]


def block_for(size: int) -> int:
    """The read block for a file of `size` bytes: the file in one read (one byte more, so
    that the read ends short and says the file ended) up to BLOCK. A zeroed 32 MiB buffer
    costs ~60 ms, far more than reading a small file."""
    return max(1, min(BLOCK, size + 1))


def hash_each(views: Sequence[memoryview]) -> list[ObjectId]:
    """The id of each chunk, on this thread."""
    return [ObjectId(blake3.blake3(v).digest()) for v in views]


def fastcdc(params: ChunkParams) -> Any:
    """pyfastcdc's cutter with the store's parameters (imported here: writers only)."""
    from pyfastcdc.cy import FastCDC

    return FastCDC(
        params.avg_size, min_size=params.min_size, max_size=params.max_size, seed=params.seed
    )


def cut_block(cdc: Any, data: memoryview, at_end: bool) -> tuple[list[memoryview], bytes]:
    """A block's chunks, and the bytes carried into the next block: its last chunk, unless
    the block ends the file (the end of a block is no cut)."""
    chunks = [c.data for c in cdc.cut_buf(data)] if data else []
    carry = bytes(chunks.pop()) if not at_end and chunks else b""
    return chunks, carry


def _hash_parallel(views: list[memoryview]) -> list[ObjectId]:
    if len(views) < 8:
        return hash_each(views)
    half = len(views) // 2
    first = pool().submit(hash_each, views[:half])
    rest = hash_each(views[half:])
    return first.result() + rest


def take_behind(batches: Generator[Batch, None, None], take: Callable[[Batch], None]) -> None:
    """`take` each batch of `ChunkedRead.batches(lag=1)` on a thread of its own while the
    next block is cut and hashed: in a 2 GiB add, copying the chunks into the pack cost
    the cutting thread a fifth of its time. Either side's error is raised here, once
    `take` no longer reads a batch."""
    from concurrent.futures import ThreadPoolExecutor

    taking: Future[None] | None = None
    with ThreadPoolExecutor(1, thread_name_prefix="mlvc-store") as thread:
        try:
            for batch in batches:
                if taking is not None:
                    taking.result()  # batch n - 1 taken: its bytes may be read into again
                taking = thread.submit(take, batch)
            if taking is not None:
                taking.result()
        finally:
            if taking is not None:
                taking.exception()  # wait: a batch is never reused while it is taken
            batches.close()


class ChunkedRead:
    """Reads a stream once: `batches()` yields (chunk id, bytes) lists; then `file_id`.

    Chunk boundaries depend on content and params only, never on the read block size:
    the last, possibly cut-short, chunk of each block is carried into the next.
    """

    def __init__(
        self, params: ChunkParams, block: int = BLOCK, guide: Sequence[Part] | None = None
    ) -> None:
        """`guide`: the chunks of the file's previous version, if known (see `Guide`)."""
        self.params = params
        self.block = block
        self._cdc = fastcdc(params)
        self._guide = Guide(guide, self._cdc, 4 * params.max_size) if guide else None
        self._whole = blake3.blake3()
        self.size = 0
        self.file_id: ObjectId | None = None

    def batches(
        self, handle: BinaryIO, on_bytes: Callable[[int], None] | None = None, lag: int = 0
    ) -> Generator[Batch, None, None]:
        """Each block is read on a pool thread while the one before is cut and hashed: a
        file the page cache does not hold reads at the disk's speed beside the hashing
        (a 20 GiB add took the reads' time plus the hashing's).

        The bytes of batch n stay valid until the caller asks for batch n + 1 + `lag`:
        with `lag` = 1 a caller may store each batch on another thread while the next
        block is cut (one buffer more)."""
        # Buffers used in turn (2 + lag), each with room in front for the chunk carried
        # over from the block before: the next block is read into the buffer after the
        # current one (once the whole-file hash of the block that was there has ended).
        # A buffer is made only when a block needs it: most files fit in one.
        # (With a guide, an old chunk and the next may be carried, checked together.)
        room = self.params.max_size * (2 if self._guide is not None else 1)
        buffers = [bytearray(room + self.block)]
        count = 2 + lag
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
                ahead = (turn + 1) % count
                if not at_end:
                    if ahead == len(buffers):
                        buffers.append(bytearray(room + self.block))
                    reading = pool().submit(_read_full, handle, memoryview(buffers[ahead])[room:])
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
                ids, chunks, carry = self._cut(data, at_end)
                yield list(zip(ids, chunks, strict=True))
                if on_bytes is not None:
                    on_bytes(filled)
                if reading is None:
                    break
                filled = reading.result()
                reading = None
                turn = ahead
            if hashing is not None:
                hashing.result()
        finally:  # stopped early: the caller may close the file once no read is under way
            for left in (reading, hashing):
                if left is not None:
                    left.exception()
        self.file_id = ObjectId(self._whole.digest())

    def _cut(
        self, data: memoryview, at_end: bool
    ) -> tuple[list[ObjectId], list[memoryview], bytes]:
        """A block's chunks with their ids, and the bytes carried into the next block (the
        last chunk but at the end: the block's end is no cut)."""
        if self._guide is not None:
            ids, chunks, kept = self._guide.cut(data, self.size - len(data), at_end)
            return ids, chunks, bytes(data[kept:])
        chunks, carry = cut_block(self._cdc, data, at_end)
        return _hash_parallel(chunks), chunks, carry


class Guide:
    """Cuts a file along the chunks of its previous version where it still holds them.

    FastCDC decides each cut from the bytes since the last cut and the one byte after
    the cut (pyfastcdc looks at the byte at the cut offset). So where the new file has a
    cut at offset p and the previous version had a chunk of the same bytes starting at p,
    followed by a chunk of the same bytes too, the new file has that very chunk: checking
    the BLAKE3 of both against the old chunk ids replaces the cutting. Where a chunk
    differs, FastCDC cuts from the start of the chunk before it, a window at a time,
    until a cut lands on an offset where an old chunk starts, and checking resumes. The
    chunks are exactly those of cutting the whole file (an edit in place or an append
    costs the hashing of the chunks, not the cutting as well). The old last chunk ended
    with the file, not by a cut: it is taken only where the new file ends at the same
    offset (and needs no next chunk)."""

    def __init__(self, parts: Sequence[Part], cdc: Any, window: int) -> None:
        self._starts: dict[int, int] = {}
        offset = 0
        for i, part in enumerate(parts):
            self._starts[offset] = i
            offset += part.length
        self._parts = parts
        self._cdc = cdc
        self._window = window

    def cut(
        self, data: memoryview, base: int, at_end: bool
    ) -> tuple[list[ObjectId], list[memoryview], int]:
        """(ids, chunks, bytes of `data` they take) for `data` at file offset `base`;
        what follows them is carried into the next call (unless `at_end`, nothing)."""
        block = _Block(data, base, at_end)
        pos = 0
        while pos < len(data):
            pos = self._check(block, pos)
            if pos == len(data):
                break
            old = self._starts.get(base + pos)
            if old is not None and not at_end and pos + self._pair(old) > len(data):
                break  # the old chunk here or the next goes on past `data`: the next block
            cut = self._cut(block, pos)
            if cut == pos:
                break  # only the window's last chunk, no cut: carried
            pos = cut
        ids, chunks = block.ids, block.chunks
        fresh = [i for i, chunk_id in enumerate(ids) if chunk_id is None]
        for i, chunk_id in zip(fresh, _hash_parallel([chunks[i] for i in fresh]), strict=True):
            ids[i] = chunk_id
        return cast(list[ObjectId], ids), chunks, pos

    def _fits(self, old: int, start: int, block: _Block) -> bool:
        """Whether old chunk `old`, placed at file offset `start`, can be taken from
        `block`: it ends inside it, and the old last chunk only where the file ends."""
        stop = start + self._parts[old].length
        if old == len(self._parts) - 1:
            return block.at_end and stop == block.base + len(block.data)
        return stop <= block.base + len(block.data)

    def _pair(self, old: int) -> int:
        """The length of old chunk `old` and of the one after it, if any."""
        after = self._parts[old + 1].length if old + 1 < len(self._parts) else 0
        return self._parts[old].length + after

    def _check(self, block: _Block, pos: int) -> int:
        """Takes the old chunks that start at `pos`, follow one another and hold the same
        bytes, each followed by one that does too (or ending the file); returns where
        they end (`pos` when none is taken)."""
        old = self._starts.get(block.base + pos)
        spans: list[tuple[int, int]] = []
        at = pos
        while (
            old is not None and old < len(self._parts) and self._fits(old, block.base + at, block)
        ):
            spans.append((at, old))
            at += self._parts[old].length
            old += 1
        if not spans:
            return pos
        views = [block.data[at : at + self._parts[old].length] for at, old in spans]
        same = 0
        for (_, old), chunk_id in zip(spans, _hash_parallel(views), strict=True):
            if chunk_id != self._parts[old].id:
                break
            same += 1
        # The last same chunk is taken only if it ends the file: the next byte decided
        # its cut, and no same chunk after it vouches for that byte.
        ends_file = same > 0 and spans[same - 1][1] == len(self._parts) - 1
        taken = same if ends_file else same - 1
        if taken <= 0:
            return pos
        for view, (_, old) in zip(views[:taken], spans, strict=False):
            block.ids.append(self._parts[old].id)
            block.chunks.append(view)
        at, old = spans[taken - 1]
        return at + self._parts[old].length

    def _cut(self, block: _Block, pos: int) -> int:
        """FastCDC from `pos` (a cut) over one window; its chunks are added unhashed (id
        None) up to the first that ends where an old chunk starts. Returns where they end.
        The window's last chunk is no cut unless the window ends the file."""
        window = block.data[pos : pos + self._window]
        cuts = [c.data for c in self._cdc.cut_buf(window)]
        if cuts and not (block.at_end and pos + len(window) == len(block.data)):
            cuts.pop()
        for chunk in cuts:
            block.ids.append(None)
            block.chunks.append(chunk)
            pos += len(chunk)
            if block.base + pos in self._starts:
                break
        return pos


class _Block:
    """One block's bytes (`data`, at file offset `base`; `at_end` if the file ends with
    them) and the chunks taken from it so far, with their ids (None: not hashed yet)."""

    def __init__(self, data: memoryview, base: int, at_end: bool) -> None:
        self.data = data
        self.base = base
        self.at_end = at_end
        self.ids: list[ObjectId | None] = []
        self.chunks: list[memoryview] = []


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
    return [bytes(c.data) for c in fastcdc(params).cut_buf(data)] if data else []


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
