"""Writing a stored file's content into a file descriptor, fast and verified.

A large file's chunks are copied from its packs by the kernel (`copy_file_range`), a
whole run of neighbouring chunks per call (a version-2 pack holds them back to back),
while a helper thread hashes the same bytes, read from maps of the packs, into one
BLAKE3 of the whole file. Where the kernel cannot copy between the two files they are
written from the maps, many chunks per system call. The caller writes into a temporary
file and renames it into place only when this returns, so corrupt bytes are never put
where the user will read them: a mismatch raises CorruptObjectError, naming the bad
chunk when one can be found.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import queue
import threading
from collections.abc import Callable

import blake3

from mlvc.errors import CorruptObjectError, ObjectNotFoundError
from mlvc.ids import Kind, ObjectId, file_id, short
from mlvc.objects import Manifest, Part
from mlvc.store import compress
from mlvc.store.index import Location
from mlvc.store.objectstore import ObjectStore
from mlvc.store.places import MISSING_HINT, FilePlan

Progress = Callable[[int], None]
_SPAN = 8 << 20  # bytes per write call
_SPAN_PIECES = 512  # chunks per write call (IOV_MAX is 1024 on Linux)
_GAP = 4096  # entries this close together are read in one call
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)  # None where mmap has no madvise
_RAW = int(compress.Codec.RAW)  # compared per small file: an int compares faster
_BEHIND = 6  # spans written before a span's pages are let go (the hash queue holds 4)
# copy_file_range failing so says the kernel cannot copy between these two files (other
# file systems, an old kernel, a seccomp filter): the span is written from the maps.
_NO_KERNEL_COPY = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF}
)
Write = tuple[int, int, int]  # (pack fd, offset, length), or (-1, index in the span, length)


def write_file(store: ObjectStore, oid: bytes, fd: int, progress: Progress | None = None) -> int:
    """Write the content of file id `oid` to `fd` from offset 0; returns its size."""
    plan = store.plan_of(oid)  # kept by `lacking`, the check before this checkout
    if plan is None:
        kind, data = store.get(oid)
        if kind is Kind.CHUNK:
            _write_all(fd, memoryview(data), 0)
            if progress:
                progress(len(data))
            return len(data)
        if kind is not Kind.MANIFEST:
            raise ObjectNotFoundError(f"{short(oid)} is a {kind.label}, not file content")
        size, parts = _chunks_of(store, oid, data)
        plan = FilePlan(size, parts, store.index.locate_many([p.id for p in parts]))
    copier = _Copier(store, fd, progress)
    try:
        copier.copy(plan.parts, plan.spots)
    finally:
        digest = copier.finish()
    if digest != oid:
        _name_bad_chunk(store, plan.parts)
        raise CorruptObjectError(f"corrupt object {oid.hex()}: reassembled file differs")
    return plan.size


def lacking(store: ObjectStore, oid: bytes) -> set[ObjectId] | None:
    """The chunks large file `oid` needs that the store lacks, for the check before a
    checkout: its manifest and nodes read, its chunks' places looked up a few hundred a
    query and, when none lacks, kept for the file's restore (`write_file`): each chunk
    is looked up once, not by the check and again by the restore (a 2 GiB file: ~0.1 s
    less). None when there is no room for the plan (`Places.room_for_plan`), `oid` is
    not a manifest here or a node of it is missing: the caller walks it as any object."""
    if not store.room_for_plan(1):
        return None
    try:
        kind, data = store.get(oid)
        if kind is not Kind.MANIFEST:
            return None
        size, parts = _chunks_of(store, oid, data)
    except ObjectNotFoundError:
        return None
    if not store.room_for_plan(len(parts)):
        store.no_more_plans()
        return None
    spots = store.index.locate_many([p.id for p in parts])
    absent = {ObjectId(p.id) for p in parts if p.id not in spots}
    if not absent:
        store.keep_plan(oid, FilePlan(size, parts, spots))
    return absent


def _chunks_of(store: ObjectStore, oid: bytes, manifest: bytes) -> tuple[int, list[Part]]:
    """The size and chunks, in order, of the file whose manifest's bytes are `manifest`."""
    decoded = Manifest.decode(manifest, f"manifest {short(oid)}")
    return decoded.size, list(store.chunk_parts(decoded))


class _Span:
    """What one write call (or a few kernel copies) puts in the file: the pieces in
    order (views of runs of chunks in the packs' maps, or chunks held in memory), how
    each is written, its size, and the range of each pack it maps."""

    __slots__ = ("mapped", "pieces", "size", "writes")

    def __init__(self) -> None:
        self.pieces: list[memoryview | bytes] = []
        self.writes: list[Write] = []
        self.mapped: dict[str, list[int]] = {}
        self.size = 0

    def held(self, data: bytes) -> None:
        self.writes.append((-1, len(self.pieces), len(data)))
        self.pieces.append(data)


class _Copier:
    """Writes chunks in order into `fd`; a thread hashes the same bytes in the same order.

    Raw chunks are copied by the kernel from their pack, a run of neighbours per
    `copy_file_range` call (a 2 GiB checkout: median 1.34 s, 1.22-1.40, against 1.45 s,
    1.12-3.12, written from the maps; docs/benchmarks.md). Where the kernel refuses,
    they are written straight from a read-only map of their pack, many per `pwritev`
    call. The hash thread reads them from the maps; once a span is written and hashed,
    its pages are unmapped from the process (`MADV_DONTNEED`: they stay in the page
    cache), so resident memory stays flat whatever the file's size."""

    def __init__(self, store: ObjectStore, fd: int, progress: Progress | None) -> None:
        self.store = store
        self.fd = fd
        self.progress = progress
        self.pos = 0
        self._maps: dict[str, mmap.mmap | None] = {}
        self._views: dict[str, memoryview] = {}
        self._queue: queue.Queue[list[memoryview | bytes] | None] = queue.Queue(maxsize=4)
        self._whole = blake3.blake3()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._hash, daemon=True)
        self._thread.start()
        self._spans: list[dict[str, list[int]]] = []  # per span: pack -> [first, end) mapped
        self._kernel = hasattr(os, "copy_file_range")  # until the kernel refuses

    def copy(self, parts: list[Part], spots: dict[bytes, Location]) -> None:
        """The loop runs once per chunk (32,768 for 2 GiB) between the writes: kept flat.
        Raw chunks lying one after the other in a pack are gathered into one run: one
        view, one copy, one hash update (a version-2 pack holds a file's chunks so).
        `spots`: each chunk's place (a chunk not there is not in the store)."""
        span = _Span()
        run: Location | None = None  # the first chunk of the run being gathered
        start = end = 0
        chunk, raw = Kind.CHUNK, compress.Codec.RAW
        for part in parts:
            spot = spots.get(part.id)
            if spot is None:
                raise ObjectNotFoundError(
                    f"chunk {short(part.id)} of a file is not in the store", hint=MISSING_HINT
                )
            e = spot.entry
            if e.kind is not chunk or e.raw_len != part.length:
                raise CorruptObjectError(f"manifest lists chunk {short(part.id)} wrongly")
            if e.codec == raw and e.offset == end and run is not None and spot.pack == run.pack:
                end += e.stored_len
            else:
                if run is not None:
                    self._gather(span, run, start, end)
                run = None
                if e.codec == raw:
                    run, start, end = spot, e.offset, e.offset + e.stored_len
                else:
                    span.held(self.store.get(part.id)[1])  # decompressed and verified
            span.size += part.length
            if span.size >= _SPAN or len(span.pieces) >= _SPAN_PIECES:
                if run is not None:
                    self._gather(span, run, start, end)
                run = None
                self._flush(span)
                span = _Span()
        if run is not None:
            self._gather(span, run, start, end)
        if span.pieces:
            self._flush(span)

    def _gather(self, span: _Span, first: Location, start: int, end: int) -> None:
        """Add the run of raw chunks at [start, end) of `first`'s pack to `span`."""
        view = self._views.get(first.pack)
        if view is None or end > len(view):
            view = self._views[first.pack] = self._view(first, end)  # raises when truncated
        span.pieces.append(view[start:end])
        span.writes.append((self.store.pack_fd(first), start, end - start))
        seen = span.mapped.setdefault(first.pack, [start, end])
        seen[0], seen[1] = min(seen[0], start), max(seen[1], end)

    def _flush(self, span: _Span) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(span.pieces)
        if self._kernel:
            try:
                self._copy(span)
            except OSError as exc:
                if exc.errno not in _NO_KERNEL_COPY:
                    raise
                self._kernel = False  # the span again, from the maps: same bytes, same place
        if not self._kernel:
            written = os.pwritev(self.fd, span.pieces, self.pos)
            if written != span.size:  # a short write: finish it piece by piece
                rest = memoryview(b"".join(span.pieces))[written:]
                _write_all(self.fd, rest, self.pos + written)
        self.pos += span.size
        if self.progress:
            self.progress(span.size)
        self._spans.append(span.mapped)
        if len(self._spans) > _BEHIND:
            self._let_go(self._spans.pop(0))

    def _copy(self, span: _Span) -> None:
        pos, out = self.pos, self.fd
        for fd, offset, length in span.writes:
            if fd < 0:  # a decompressed chunk, held in memory
                _write_all(out, memoryview(span.pieces[offset]), pos)
                pos += length
                continue
            end = pos + length
            while pos < end:
                copied = os.copy_file_range(fd, out, end - pos, offset, pos)
                if copied == 0:  # the pack ends early (checked against its map before)
                    raise CorruptObjectError(f"a chunk is truncated in a pack at offset {offset}")
                pos += copied
                offset += copied

    def _let_go(self, mapped: dict[str, list[int]]) -> None:
        """Unmap pages of a span long written and hashed (the queue holds at most 4 spans,
        so the hash thread is past it). Were it not, a touched page is read back from
        the page cache: never wrong, only slower."""
        if _DONTNEED is None:
            return
        for pack, (first, end) in mapped.items():
            whole = self._maps.get(pack)
            if whole is not None:
                start = first - first % mmap.PAGESIZE
                whole.madvise(_DONTNEED, start, end - start)

    def _view(self, loc: Location, end: int) -> memoryview:
        """A view of the map of `loc`'s pack, which must hold its first `end` bytes."""
        if loc.pack not in self._maps:
            fd = self.store.pack_fd(loc)  # raises ObjectNotFoundError for a missing pack
            size = os.fstat(fd).st_size
            self._maps[loc.pack] = mmap.mmap(fd, size, prot=mmap.PROT_READ) if size else None
        mapped = self._maps[loc.pack]
        # Checked before touching the map: reading past the end of a truncated pack
        # through a map would kill the process (SIGBUS) instead of raising.
        if mapped is None or end > len(mapped):
            raise CorruptObjectError(
                f"chunk {short(loc.entry.id)} or one after it is truncated in pack {loc.pack[:12]}"
            )
        return memoryview(mapped)

    def _hash(self) -> None:
        while (batch := self._queue.get()) is not None:
            try:
                for piece in batch:
                    self._whole.update(piece)
            except BaseException as exc:
                self._error = exc

    def finish(self) -> bytes:
        self._queue.put(None)
        self._thread.join()
        self._views.clear()
        for mapped in self._maps.values():
            if mapped is not None:
                with contextlib.suppress(BufferError):  # a view outlives us: freed with it
                    mapped.close()
        self._maps.clear()
        if self._error is not None:
            raise self._error
        return self._whole.digest()


def read_small(store: ObjectStore, oids: list[bytes]) -> dict[bytes, bytes]:
    """The content of many files stored as one chunk each, verified; other ids are left
    out. Neighbouring entries of a pack are read with one `pread` (up to _SPAN bytes):
    `mlvc add` packs a directory's small files side by side. A chunk stored as it is
    (most small files) is checked by its length and id alone, inline: a checkout calls
    this for every small file, and the general path cost as much as the hashing."""
    locate = store.locate
    spots = [loc for oid in set(oids) if (loc := locate(oid)).entry.kind is Kind.CHUNK]
    spots.sort(key=_pack_order)
    found: dict[bytes, bytes] = {}
    hasher = blake3.blake3
    i = 0
    while i < len(spots):
        first = spots[i]
        start = first.entry.offset
        end = start + first.entry.stored_len
        j = i + 1
        while j < len(spots) and spots[j].pack == first.pack:
            e = spots[j].entry
            if e.offset - end > _GAP or e.offset + e.stored_len - start > _SPAN:
                break
            end = max(end, e.offset + e.stored_len)  # an entry may lie inside the last
            j += 1
        span = memoryview(os.pread(store.pack_fd(first), end - start, start))
        for loc in spots[i:j]:
            e = loc.entry
            stored = span[e.offset - start : e.offset - start + e.stored_len]
            if e.codec == _RAW and e.raw_len == e.stored_len == len(stored):
                data = bytes(stored)
            else:
                data = store.unpack(loc, stored)  # names a truncated or damaged entry
            if hasher(data).digest() != e.id:
                raise CorruptObjectError(
                    f"corrupt object {e.id.hex()}: its bytes hash to {short(file_id(data))}",
                    hint="the store is damaged; restore this object from a backup",
                )
            found[e.id] = data
        i = j
    return found


def _pack_order(loc: Location) -> tuple[str, int]:
    return loc.pack, loc.entry.offset


def _name_bad_chunk(store: ObjectStore, parts: list[Part]) -> None:
    """The file did not hash to its id: find the chunk to blame, when one is to blame."""
    for part in parts:
        _, data = store.get(part.id)  # raises CorruptObjectError naming the chunk
        if len(data) != part.length or file_id(data) != part.id:
            raise CorruptObjectError(f"corrupt object {part.id.hex()}: chunk differs")


def _write_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written
