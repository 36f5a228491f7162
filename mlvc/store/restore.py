"""Writing a stored file's content into a file descriptor, fast and verified.

A large file is written from read-only maps of its packs, many chunks per system call,
while a helper thread hashes the same bytes into one BLAKE3 of the whole file. The
caller writes into a temporary file and renames it into place only when this returns,
so corrupt bytes are never put where the user will read them: a mismatch raises
CorruptObjectError, naming the bad chunk when one can be found.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import queue
import threading
from collections.abc import Callable

import blake3

from mlvc.errors import CorruptObjectError, ObjectNotFoundError
from mlvc.ids import Kind, file_id, short
from mlvc.objects import Manifest, Part
from mlvc.store import compress
from mlvc.store.index import Location
from mlvc.store.objectstore import ObjectStore
from mlvc.store.places import MISSING_HINT

Progress = Callable[[int], None]
_SPAN = 8 << 20  # bytes per write call
_SPAN_PIECES = 512  # chunks per write call (IOV_MAX is 1024 on Linux)
_GAP = 4096  # entries this close together are read in one call
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)  # None where mmap has no madvise
_RAW = int(compress.Codec.RAW)  # compared per small file: an int compares faster
_BEHIND = 6  # spans written before a span's pages are let go (the hash queue holds 4)


def write_file(store: ObjectStore, oid: bytes, fd: int, progress: Progress | None = None) -> int:
    """Write the content of file id `oid` to `fd` from offset 0; returns its size."""
    kind, data = store.get(oid)
    if kind is Kind.CHUNK:
        _write_all(fd, memoryview(data), 0)
        if progress:
            progress(len(data))
        return len(data)
    if kind is not Kind.MANIFEST:
        raise ObjectNotFoundError(f"{short(oid)} is a {kind.label}, not file content")
    manifest = Manifest.decode(data, f"manifest {short(oid)}")
    parts = list(store.chunk_parts(manifest))
    copier = _Copier(store, fd, progress)
    try:
        copier.copy(parts)
    finally:
        digest = copier.finish()
    if digest != oid:
        _name_bad_chunk(store, parts)
        raise CorruptObjectError(f"corrupt object {oid.hex()}: reassembled file differs")
    return manifest.size


class _Copier:
    """Writes chunks in order into `fd`; a thread hashes the same bytes in the same order.

    Raw chunks are written straight from a read-only map of their pack, many per
    `pwritev` call (one system call per ~8 MiB instead of one per chunk). Once a span is
    written and hashed, its pages are unmapped from the process (`MADV_DONTNEED`: they
    stay in the page cache), so resident memory stays flat whatever the file's size."""

    def __init__(self, store: ObjectStore, fd: int, progress: Progress | None) -> None:
        self.store = store
        self.fd = fd
        self.progress = progress
        self.pos = 0
        self._maps: dict[str, mmap.mmap | None] = {}
        self._queue: queue.Queue[list[memoryview | bytes] | None] = queue.Queue(maxsize=4)
        self._whole = blake3.blake3()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._hash, daemon=True)
        self._thread.start()
        self._spans: list[dict[str, list[int]]] = []  # per span: pack -> [first, end) mapped

    def copy(self, parts: list[Part]) -> None:
        """The loop runs once per chunk (32,768 for 2 GiB) between the writes: kept flat."""
        spots = self.store.index.locate_many([p.id for p in parts])
        views: dict[str, memoryview] = {}
        span: list[memoryview | bytes] = []
        mapped: dict[str, list[int]] = {}
        size = 0
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
            if e.codec == raw:
                view = views.get(spot.pack)
                end = e.offset + e.stored_len
                if view is None or end > len(view):
                    view = views[spot.pack] = self._view(spot)  # raises when truncated
                span.append(view[e.offset : end])
                seen = mapped.setdefault(spot.pack, [e.offset, end])
                seen[0], seen[1] = min(seen[0], e.offset), max(seen[1], end)
            else:
                span.append(self.store.get(part.id)[1])  # decompressed and verified
            size += part.length
            if size >= _SPAN or len(span) >= _SPAN_PIECES:
                self._flush(span, size, mapped)
                span, mapped, size = [], {}, 0
        if span:
            self._flush(span, size, mapped)

    def _flush(
        self, span: list[memoryview | bytes], size: int, mapped: dict[str, list[int]]
    ) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(span)
        written = os.pwritev(self.fd, span, self.pos)
        if written != size:  # a short write: finish it piece by piece
            _write_all(self.fd, memoryview(b"".join(span))[written:], self.pos + written)
        self.pos += size
        if self.progress:
            self.progress(size)
        self._spans.append(mapped)
        if len(self._spans) > _BEHIND:
            self._let_go(self._spans.pop(0))

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

    def _view(self, loc: Location) -> memoryview:
        if loc.pack not in self._maps:
            fd = self.store.pack_fd(loc)  # raises ObjectNotFoundError for a missing pack
            size = os.fstat(fd).st_size
            self._maps[loc.pack] = mmap.mmap(fd, size, prot=mmap.PROT_READ) if size else None
        mapped = self._maps[loc.pack]
        e = loc.entry
        # Checked before touching the map: reading past the end of a truncated pack
        # through a map would kill the process (SIGBUS) instead of raising.
        if mapped is None or e.offset + e.stored_len > len(mapped):
            raise CorruptObjectError(f"chunk {short(e.id)} is truncated in pack {loc.pack[:12]}")
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
