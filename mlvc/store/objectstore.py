"""The object store: puts files and metadata into packs, gets them back verified.

Write order (each step durable before the next): sealed packs, then index rows in one
SQLite transaction. A crash in between leaves at worst an orphan pack, never an index
row pointing at bytes that are not on disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import blake3

from mlvc.config import ChunkParams
from mlvc.errors import (
    CorruptObjectError,
    MlvcError,
    ObjectNotFoundError,
)
from mlvc.ids import Kind, ObjectId, file_id, object_id, short
from mlvc.objects import Manifest, ManifestNode, Part
from mlvc.store import compress, gclock, verify
from mlvc.store.entry import Entry
from mlvc.store.fsutil import fsync_dir
from mlvc.store.index import Index, Location
from mlvc.store.ingest import encode_chunk, node_groups, open_file, samples
from mlvc.store.pack import ChunkRow, PackWriter, reclaim_temporary, write_whole
from mlvc.store.places import FilePlan, Places
from mlvc.store.upgrade import to_format_2

# Pack sizes: metadata packs stay small; data packs are larger than DESIGN's 32 MiB
# because each seal costs an fsync (a journal commit, ~50 ms here) and a 2 GiB add
# would otherwise pay it 64 times. See docs/format.md.
PACK_TARGET = 32 << 20
DATA_PACK_TARGET = 128 << 20
SMALL_FILE = 1 << 20
# Reads of a file that keeps changing while it is stored before the last one is kept.
READS = 3
_DAMAGED = (
    "the store is damaged: mlvc fsck --full lists every damaged object, and mlvc fsck"
    " --repair keeps the sound ones and takes the rest again from a remote"
)
Progress = Callable[[int], None]


@dataclass(frozen=True)
class StoredFile:
    """A file's content as stored: `id` and `size` are of the same bytes. `steady` is
    False when the file changed during every read (what was stored is the last read)."""

    id: ObjectId
    size: int
    steady: bool = True


class ObjectStore(Places):
    def __init__(self, packs: Path, index: Index, params: ChunkParams) -> None:
        self.packs = packs
        self.index = index
        self.params = params
        self._data: PackWriter | None = None
        self._meta: PackWriter | None = None
        self._sealed: list[tuple[str, PackWriter]] = []
        self._pending: set[bytes] = set()
        self._fds: dict[str, int] = {}
        self._known: dict[bytes, Location] = {}
        self._plans: dict[bytes, FilePlan] = {}
        self._planned = 0
        self._noting = 0
        self._present: set[bytes] = set()  # ids `look_up` found in the index
        self._reclaimed = False
        self._use = gclock.shared(packs.parent)  # gc waits while this store is open

    # -- writing -------------------------------------------------------------------

    def has(self, oid: bytes) -> bool:
        return oid in self._pending or oid in self._present or self.index.has(oid)

    def look_up(self, oids: list[bytes]) -> None:
        """Ask the index about many ids at once before `has` is asked about each (a run
        that read 2,000 files made 2,000 queries): 32 bytes of memory an id found."""
        self._present.update(self.index.kinds(oids))

    def _writer(self, meta: bool) -> PackWriter:
        current = self._meta if meta else self._data
        if current is not None and current.size < (PACK_TARGET if meta else DATA_PACK_TARGET):
            return current
        if current is not None:
            self._sealed.append((current.seal(), current))
            current.start_sync()
        if not self._reclaimed:
            self._reclaimed = True
            to_format_2(self.packs.parent)
            reclaim_temporary(self.packs)
        fresh = PackWriter(self.packs, direct=not meta)
        if meta:
            self._meta = fresh
        else:
            self._data = fresh
        return fresh

    def _put(self, oid: ObjectId, kind: Kind, raw: bytes | memoryview, packed: bool) -> None:
        if not self.has(oid):
            self._write(oid, kind, raw, packed)

    def _write(self, oid: ObjectId, kind: Kind, raw: bytes | memoryview, packed: bool) -> None:
        codec, stored = compress.smaller(raw, compress.compress(raw) if packed else None)
        self._store(oid, kind, codec, len(raw), stored)

    def _store(
        self, oid: ObjectId, kind: Kind, codec: int, raw_len: int, stored: bytes | memoryview
    ) -> None:
        self._writer(kind is not Kind.CHUNK).add(oid, kind, codec, raw_len, stored)
        self._pending.add(oid)

    def _write_chunks(
        self, items: list[tuple[ObjectId, memoryview]], packed: bool, at: list[int]
    ) -> None:
        """Write a large file's new chunks (at these offsets in the file), compressed on
        two cores when `packed`."""
        chunks = [chunk for _, chunk in items]
        squeezed = compress.compress_many(chunks) if packed else [None] * len(chunks)
        rows = []
        for (oid, chunk), small in zip(items, squeezed, strict=True):
            codec, stored = compress.smaller(chunk, small)
            rows.append((oid, int(codec), len(chunk), stored))
        self._add_chunks(rows, at)

    def _add_chunks(self, rows: Sequence[ChunkRow], at: Sequence[int] | None = None) -> None:
        """Chunk entries into data packs, a new pack begun whenever one reaches its size;
        `at`: their offsets in their file (see `PackWriter.add_chunks`)."""
        done = 0
        while done < len(rows):
            done += self._writer(False).add_chunks(
                rows[done:], DATA_PACK_TARGET, None if at is None else at[done:]
            )

    def put_stored(self, e: Entry, stored: bytes | memoryview) -> None:
        """Keep an object verified elsewhere (downloaded from a remote) as the bytes it
        was stored as: same codec, no recompression."""
        if not self.has(e.id):
            self._writer(e.kind is not Kind.CHUNK).add(e.id, e.kind, e.codec, e.raw_len, stored)
            self._pending.add(e.id)

    def adopt_pack(self, name: str, data: memoryview, entries: Sequence[Entry]) -> None:
        """Keep a whole pack verified elsewhere (taken from a remote) as it is, under its
        own name, and index its entries in one transaction (ids already held keep their
        place). Faster than `put_stored` entry by entry: no copy, no recompression.
        Inside a `lookups` block, the entries' places are then known as `prefetch` would
        find them (a checkout that takes a pack reads it next), up to NOTED places."""
        if not (self.packs / f"{name}.pack").exists():
            to_format_2(self.packs.parent)  # the pack may be of version 2
            write_whole(self.packs, name, data)
            fsync_dir(self.packs)
        with self.index.transaction():
            self.index.add_pack(name, entries)
        self.note_places(name, entries)

    def put_object(self, kind: Kind, canonical: bytes) -> ObjectId:
        """Store a tree, manifest node or run (always compressed); returns its id."""
        oid = object_id(kind, canonical)
        self._put(oid, kind, canonical, packed=True)
        return oid

    def put_bytes(self, data: bytes) -> ObjectId:
        """Store small content (a log, a patch) as one chunk; returns its file id."""
        oid = file_id(data)
        if not self.has(oid):
            codec, stored = encode_chunk(data)
            self._store(oid, Kind.CHUNK, codec, len(data), stored)
        return oid

    def put_chunks(self, items: list[tuple[ObjectId, bytes]]) -> None:
        """Store many small contents (whole small files) with one existence query: per
        file, a SQLite lookup cost more than reading and hashing a 4 KiB file."""
        absent = self.index.missing([oid for oid, _ in items if oid not in self._pending])
        fresh = {oid: data for oid, data in items if oid in absent and oid not in self._pending}
        self.put_encoded(
            [(oid, len(data), *encode_chunk(data)) for oid, data in fresh.items()], absent
        )

    def put_encoded(
        self, items: list[tuple[ObjectId, int, int, bytes]], absent: set[bytes] | None = None
    ) -> None:
        """Store whole small contents already encoded by `encode_chunk` (possibly in
        another process): (id, raw length, codec, stored bytes). `absent`: the ids known
        not to be stored yet (else one query finds them)."""
        if absent is None:
            absent = self.index.missing([item[0] for item in items if item[0] not in self._pending])
        fresh = []
        for oid, raw_len, codec, stored in items:
            if oid in absent and oid not in self._pending:
                fresh.append((oid, codec, raw_len, stored))
                self._pending.add(oid)
        self._add_chunks(fresh)

    def put_file(self, path: Path | str, progress: Progress | None = None) -> tuple[ObjectId, int]:
        """Store a regular file's content; returns (file id, size) of the bytes stored."""
        stored = self.store_file(path, progress)
        return stored.id, stored.size

    def store_file(
        self,
        path: Path | str | BinaryIO,
        progress: Progress | None = None,
        like: ObjectId | None = None,
    ) -> StoredFile:
        """Store a regular file's content (`path`, or a file opened for reading, which
        is closed here). A file that changes while it is read (another process writes
        it) is read again, READS times in all; if it never holds still, the last read is
        kept and marked unsteady. Either way the id and size are those of the bytes
        stored, never a mix of a stat and a read. `progress` sees every read. `like`:
        the id of what the file held before, if known, whose chunks guide the cutting
        (`chunker.Guide`: the same chunks, found faster)."""
        with open_file(path) if isinstance(path, (str, Path)) else path as handle:
            for _ in range(READS):
                handle.seek(0)
                stored, parts = self._read_once(handle, progress, like)
                if stored.steady:
                    break
        if len(parts) > 1:
            self._put_manifest(stored.id, stored.size, parts)
        return stored

    def _chunks_of(self, oid: ObjectId | None) -> list[Part] | None:
        """The chunks of stored file `oid`, when it is stored as more than one (a file
        stored as one chunk is not read: the index says what it is)."""
        if oid is None:
            return None
        try:
            if self.locate(oid).entry.kind is not Kind.MANIFEST:
                return None
            _, data = self.get(oid)
            parts = list(self.chunk_parts(Manifest.decode(data, f"manifest {short(oid)}")))
        except (MlvcError, OSError):  # gone, purged or damaged: no guide, the file is cut whole
            return None
        top = self.params.max_size
        return parts if all(0 < part.length <= top for part in parts) else None

    def _read_once(
        self, handle: BinaryIO, progress: Progress | None, like: ObjectId | None = None
    ) -> tuple[StoredFile, list[Part]]:
        """One read of the whole file, its chunks stored; steady when the file's size
        and mtime held still and the read found as many bytes as they said."""
        before = os.fstat(handle.fileno())
        parts: list[Part] = []
        if before.st_size <= min(self.params.min_size, SMALL_FILE):
            data = handle.read()
            oid, size = self.put_bytes(data), len(data)
            if progress:
                progress(size)
        else:
            oid, size = self._read_chunked(handle, before.st_size, progress, like, parts)
        after = os.fstat(handle.fileno())
        steady = (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        return StoredFile(oid, size, steady and size == before.st_size), parts

    def _read_chunked(
        self,
        handle: BinaryIO,
        size: int,
        progress: Progress | None,
        like: ObjectId | None,
        parts: list[Part],
    ) -> tuple[ObjectId, int]:
        """Cut and store a file larger than a chunk (`parts` gets its chunks): id, size."""
        from mlvc.store.cutter import cut_and_take  # only writers need it

        packed = compress.worth_compressing(samples(handle, size))
        handle.seek(0)
        guide = self._chunks_of(like)  # only a file cut into chunks needs one

        reached = [0]  # the file offset of the next chunk `take` is given

        def take(batch: list[tuple[ObjectId, memoryview]]) -> None:
            absent = self.index.missing([c for c, _ in batch if c not in self._pending])
            fresh, at = [], []
            offset = reached[0]
            for chunk_id, chunk in batch:
                if chunk_id in absent and chunk_id not in self._pending:
                    fresh.append((chunk_id, chunk))
                    at.append(offset)
                    self._pending.add(chunk_id)
                parts.append(Part(chunk_id, len(chunk)))
                offset += len(chunk)
            reached[0] = offset
            self._write_chunks(fresh, packed, at)

        def restart() -> None:
            parts.clear()
            reached[0] = 0

        return cut_and_take(handle, size, self.params, guide, take, progress, restart, packed)

    def _put_manifest(self, oid: ObjectId, size: int, parts: list[Part]) -> None:
        if self.has(oid):
            return
        groups = node_groups(parts)
        if len(groups) == 1:
            manifest = Manifest(size, 0, tuple(parts))
        else:
            nodes = []
            for group in groups:
                node = ManifestNode(tuple(group))
                nodes.append(
                    Part(
                        self.put_object(Kind.MANIFEST_NODE, node.encode()),
                        sum(p.length for p in group),
                    )
                )
            manifest = Manifest(size, 1, tuple(nodes))
        self._put(oid, Kind.MANIFEST, manifest.encode(), packed=True)

    def commit(self, rows: Callable[[], None] | None = None) -> None:
        """Seal open packs and record them in the index in one transaction, together
        with `rows` (more index writes, such as a run's). The packs are flushed in the
        background while the rows go in; the transaction commits only once every pack
        is durable and named, so no committed row ever points at bytes not on disk."""
        for attr in ("_data", "_meta"):
            writer: PackWriter | None = getattr(self, attr)
            if writer is not None:
                if writer.count:
                    self._sealed.append((writer.seal(), writer))
                    writer.start_sync()
                else:
                    writer.abort()
                setattr(self, attr, None)
        if not self._sealed and rows is None:
            return
        with self.index.transaction():
            for name, writer in self._sealed:
                self.index.add_pack(name, writer.entries)
            if rows is not None:
                rows()
            for _, sealed in self._sealed:
                sealed.publish()
            if self._sealed:
                fsync_dir(self.packs)
        self._sealed.clear()
        self._pending.clear()

    def abort(self) -> None:
        """Drop everything not yet committed: temporary packs are removed."""
        for writer in (self._data, self._meta, *(w for _, w in self._sealed)):
            if writer is not None:
                writer.abort()
        self._data = self._meta = None
        self._sealed.clear()
        self._pending.clear()

    # -- reading -------------------------------------------------------------------

    def pack_fd(self, loc: Location) -> int:
        """A read-only descriptor of the pack holding `loc`, kept open for the store's life."""
        fd = self._fds.get(loc.pack)
        if fd is None:
            try:
                fd = os.open(self.packs / f"{loc.pack}.pack", os.O_RDONLY)
            except FileNotFoundError:
                raise ObjectNotFoundError(
                    f"pack {loc.pack[:12]} holding object {short(loc.entry.id)} is missing",
                    hint="the store is damaged; restore .mlvc/packs from a backup",
                ) from None
            self._fds[loc.pack] = fd
        return fd

    def _raw(self, loc: Location) -> bytes:
        e = loc.entry
        return self.unpack(loc, os.pread(self.pack_fd(loc), e.stored_len, e.offset))

    def unpack(self, loc: Location, stored: bytes | memoryview) -> bytes:
        """An entry's raw bytes from its stored bytes: lengths, checksum and codec checked
        (a chunk's id is checked by the caller)."""
        return verify.unpack(loc.entry, stored, f"pack {loc.pack[:12]}", _DAMAGED)

    def get(self, oid: bytes) -> tuple[Kind, bytes]:
        """An object's raw bytes, verified against its id (or checksum, for manifests)."""
        loc = self.locate(oid)
        data = self._raw(loc)
        verify.check_id(oid, loc.entry.kind, data, f"pack {loc.pack[:12]}", _DAMAGED)
        return loc.entry.kind, data

    def iter_file(self, oid: bytes) -> Iterator[bytes]:
        """The content of a file id, chunk by chunk, each verified before it is yielded;
        the whole is checked against the file id at the end."""
        kind, data = self.get(oid)
        if kind is Kind.CHUNK:
            yield data
            return
        if kind is not Kind.MANIFEST:
            raise ObjectNotFoundError(f"{short(oid)} is a {kind.label}, not file content")
        whole = blake3.blake3()
        for part in self.chunk_parts(Manifest.decode(data, f"manifest {short(oid)}")):
            _, chunk = self.get(part.id)
            if len(chunk) != part.length:
                raise CorruptObjectError(f"manifest {short(oid)} lists a wrong chunk length")
            whole.update(chunk)
            yield chunk
        if whole.digest() != oid:
            raise CorruptObjectError(f"corrupt object {oid.hex()}: reassembled file differs")

    def chunk_parts(self, manifest: Manifest) -> Iterator[Part]:
        """The chunks of a file, in order, through the manifest's nodes if it has them."""
        if manifest.level == 0:
            yield from manifest.parts
            return
        for node_part in manifest.parts:
            _, data = self.get(node_part.id)
            yield from ManifestNode.decode(data, f"manifest node {short(node_part.id)}").parts

    def close(self) -> None:
        self.abort()
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        gclock.release(self._use)
        self._use = None
