"""Pack files: append-only entries and a self-describing trailer, written through
O_DIRECT sinks (`mlvc.store.sink`).

Layout (all integers little-endian), version 2:

    header   b"MLVCPACK" u32 version u32 flags                      16 bytes
    data     each entry's stored bytes, back to back (a file's raw chunk may follow up
             to ALIGN - 1 zero bytes: see `PackWriter.add_chunks`)
    table    per entry: id[32] u8 kind u8 codec u64 offset u64 raw u64 stored check[8]
    footer   b"MLVT" u32 version u64 count u64 table_offset digest[32] b"MLVCEND\\0"

Version 1 (still read) put a 64-byte entry header before each entry's bytes, repeating
its table row; version 2 leaves it out, so the chunks of a file lie side by side and a
restore copies whole ranges of them in the kernel (`mlvc.store.restore`).

`check` is the first 8 bytes of BLAKE3 over the stored bytes for metadata entries, whose
ids do not hash their own bytes (a manifest is stored under its file id); zero for chunks,
which are verified against their id. The pack is named by BLAKE3 of its table, which is
also `digest` in the footer, so a pack can be listed and verified without any index.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Sequence
from pathlib import Path

import blake3

from mlvc.errors import CorruptPackError, NewerFormatError
from mlvc.ids import Kind, ObjectId, short
from mlvc.store.compress import Codec
from mlvc.store.entry import Entry
from mlvc.store.fsutil import disk_errors, pid_alive, temp_name
from mlvc.store.sink import Sink

MAGIC = b"MLVCPACK"
VERSION = 2  # what this writer writes
READABLE = (1, 2)  # what readers take; version 1 has an ENTRY header before each entry
HEADER = struct.Struct("<8sII")
ENTRY = struct.Struct("<4sBBH32sQQ8s")  # version 1 only
ROW = struct.Struct("<32sBBQQQ8s")
FOOTER = struct.Struct("<4sIQQ32s8s")
ENTRY_MAGIC = b"MLVE"
FOOTER_MAGIC = b"MLVT"
END = b"MLVCEND\0"
NO_CHECK = bytes(8)
ALIGN = 4096  # a file's raw chunks sit at their file offset modulo this in a pack
MAX_ENTRIES = 1 << 24
_KIND_OF = {int(kind): kind for kind in Kind}
ChunkRow = tuple[ObjectId, int, int, bytes | memoryview]  # id, codec, raw length, stored


def check_of(stored: bytes | memoryview) -> bytes:
    return blake3.blake3(stored).digest()[:8]


class PackWriter:
    """Appends entries to a temporary pack; `seal` ends and names it; `publish` makes it
    durable and visible. Sealing many packs before publishing any lets one device flush
    cover them all: each fsync here costs a flush of everything written since the last."""

    def __init__(self, directory: Path, direct: bool = False) -> None:
        self.directory = directory
        self.tmp = temp_name(directory, ".pack")
        with disk_errors(self.tmp):
            self._sink = Sink(self.tmp, direct)
            self._sink.write(HEADER.pack(MAGIC, VERSION, 0))
        self._table = bytearray()  # its rows, as `seal` writes them: 66 bytes an entry
        self.count = 0
        self.name = ""
        self._syncing: threading.Thread | None = None
        self._sync_error: OSError | None = None

    @property
    def size(self) -> int:
        return self._sink.size

    @property
    def entries(self) -> list[Entry]:
        """The entries added so far, in pack order (decoded from the table's rows: a
        pack of small files holds ~50,000, and an Entry costs three times a row)."""
        return [
            Entry(ObjectId(oid), _KIND_OF[kind], codec, offset, raw_len, stored_len, check)
            for oid, kind, codec, offset, raw_len, stored_len, check in ROW.iter_unpack(self._table)
        ]

    def add(
        self, oid: ObjectId, kind: Kind, codec: int, raw_len: int, stored: bytes | memoryview
    ) -> Entry:
        check = NO_CHECK if kind is Kind.CHUNK else check_of(stored)
        with disk_errors(self.tmp):
            entry = Entry(oid, kind, codec, self._sink.size, raw_len, len(stored), check)
            self._sink.write(stored)
        self._table += ROW.pack(oid, kind, codec, entry.offset, raw_len, len(stored), check)
        self.count += 1
        return entry

    def add_chunks(
        self, items: Sequence[ChunkRow], limit: int, at: Sequence[int] | None = None
    ) -> int:
        """`add` for many chunks, (id, codec, raw length, stored bytes) each, without the
        per-call overhead of `add`, until the pack holds `limit` bytes: how many it took.
        A large entry's bytes are copied without holding the GIL (`sink.copy_into`).

        `at`: each chunk's offset in its file. A raw chunk then starts at the same
        offset modulo ALIGN in the pack, after up to ALIGN - 1 zero bytes (only where the
        chunk before it in the file is not the entry before it here: a file's new chunks
        lie back to back), so that a checkout's kernel copy of a run of them moves whole
        pages (2 GiB: 0.53-0.66 s page-aligned, 0.86-0.97 s not)."""
        sink, table, row, chunk, raw = self._sink, self._table, ROW.pack, Kind.CHUNK, Codec.RAW
        taken = 0
        with disk_errors(self.tmp):
            for oid, codec, raw_len, stored in items:
                if sink.size >= limit:
                    break
                if at is not None and codec == raw and (gap := (at[taken] - sink.size) % ALIGN):
                    sink.write(bytes(gap))
                offset = sink.size
                sink.write(stored)
                table += row(oid, chunk, codec, offset, raw_len, len(stored), NO_CHECK)
                self.count += 1
                taken += 1
        return taken

    def seal(self) -> str:
        """Write the table and footer; returns the pack name. Not yet durable."""
        table = bytes(self._table)
        digest = blake3.blake3(table).digest()
        name = digest.hex()
        try:
            with disk_errors(self.tmp):
                offset = self._sink.size
                self._sink.write(table)
                self._sink.write(
                    FOOTER.pack(FOOTER_MAGIC, VERSION, self.count, offset, digest, END)
                )
                self._sink.finish()
        except BaseException:
            self.abort()
            raise
        self.name = name
        return name

    def start_sync(self) -> None:
        """Begin flushing a sealed pack in the background, so the device works on it while
        the next pack is being filled; `publish` waits for it."""
        if self._syncing is None:
            self._syncing = threading.Thread(target=self._sync, daemon=True)
            self._syncing.start()

    def _sync(self) -> None:
        try:
            os.fsync(self._sink.fd)
        except OSError as exc:
            self._sync_error = exc

    def publish(self) -> Path:
        """fsync the sealed pack and rename it to `<name>.pack`. The caller fsyncs the
        directory once after publishing a batch."""
        final = self.directory / f"{self.name}.pack"
        if self._syncing is not None:
            self._syncing.join()
        try:
            with disk_errors(self.tmp):
                if self._sync_error is not None:
                    raise self._sync_error
                os.fchmod(self._sink.fd, 0o444)  # sealed packs are immutable
                os.fsync(self._sink.fd)  # cheap when the background flush covered it
            self._sink.close()
            os.replace(self.tmp, final)
        except BaseException:
            self.abort()
            raise
        return final

    def abort(self) -> None:
        if self._syncing is not None:
            self._syncing.join()
        self._sink.close()
        self.tmp.unlink(missing_ok=True)


def write_whole(directory: Path, name: str, data: memoryview) -> Path:
    """A whole sealed pack held in memory (taken from a remote and verified) written as
    `<name>.pack`: durable and read-only before it is renamed into place. `data` should
    start on a page boundary (an mmap), so that it goes to the disk by O_DIRECT with no
    staging copy. The caller fsyncs the directory."""
    final = directory / f"{name}.pack"
    tmp = temp_name(directory, ".pack")
    with disk_errors(tmp):
        sink = Sink(tmp, direct=True)
    try:
        with disk_errors(tmp):
            aligned = len(data) - len(data) % 4096
            sink._write_at(data[:aligned], 0)
            sink._write_at(data[aligned:], aligned)
            os.fchmod(sink.fd, 0o444)
            os.fsync(sink.fd)
            sink.close()
            os.replace(tmp, final)
    except BaseException:
        sink.close()
        tmp.unlink(missing_ok=True)
        raise
    return final


def read_table(path: Path) -> list[Entry]:
    """The entries of a sealed pack, from its trailer alone. Raises CorruptPackError."""
    return parse_trailer(f"pack {path.name}", path.stem, read_trailer(path), whole=True)


def read_trailer(path: Path) -> bytes:
    """A sealed pack's entry table and footer: what a remote stores as its index file.
    The header is checked here; the trailer by `parse_trailer`."""
    what = f"pack {path.name}"
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < HEADER.size + FOOTER.size:
            raise CorruptPackError(f"{what} is truncated ({size} bytes)")
        magic, version, flags = HEADER.unpack(handle.read(HEADER.size))
        handle.seek(size - FOOTER.size)
        footer = handle.read(FOOTER.size)
        if magic == MAGIC and version > READABLE[-1] and trailer_version(footer) == version:
            raise newer(what, version)  # both ends say so: not a damaged byte
        if magic != MAGIC or version not in READABLE or flags != 0:
            raise CorruptPackError(f"{what} has no valid header or footer (truncated?)")
        count, offset = _footer(what, footer, version)[:2]
        if count > MAX_ENTRIES or offset + count * ROW.size + FOOTER.size != size:
            raise CorruptPackError(f"{what} has an inconsistent trailer")
        handle.seek(offset)
        return handle.read(size - offset)


def _footer(what: str, data: bytes, version: int | None = None) -> tuple[int, int, bytes]:
    """(count, table offset, digest) of a footer; `version`: the header's, when read."""
    fmagic, fversion, count, offset, digest, end = FOOTER.unpack(data)
    damaged = CorruptPackError(f"{what} has no valid header or footer (truncated?)")
    if fmagic != FOOTER_MAGIC or end != END:
        raise damaged
    if version is None and fversion > READABLE[-1]:  # an index file: its footer alone
        raise newer(what, fversion)
    if fversion not in READABLE or fversion != (fversion if version is None else version):
        raise damaged
    return count, offset, digest


def newer(what: str, version: int) -> NewerFormatError:
    """The error for a pack (or its index file) of a version later than this mlvc's."""
    return NewerFormatError(
        f"{what} is pack version {version}; this mlvc reads versions"
        f" {READABLE[0]} to {READABLE[-1]}",
        hint="upgrade mlvc (nothing was changed)",
    )


def trailer_version(trailer: bytes) -> int:
    """The pack version a checked trailer's footer names."""
    return int(FOOTER.unpack(trailer[-FOOTER.size :])[1])


def parse_trailer(what: str, name: str, trailer: bytes, whole: bool = False) -> list[Entry]:
    """The entries listed by a pack's table and footer (`trailer`), checked: the footer,
    the length, the table's BLAKE3 against the footer and against `name` (temporary
    packs of this store excepted when `whole`), every row before the table."""
    if len(trailer) < FOOTER.size:
        raise CorruptPackError(f"{what} is truncated ({len(trailer)} bytes)")
    count, offset, digest = _footer(what, trailer[-FOOTER.size :])
    if count > MAX_ENTRIES or count * ROW.size + FOOTER.size != len(trailer):
        raise CorruptPackError(f"{what} has an inconsistent trailer")
    table = trailer[: count * ROW.size]
    if blake3.blake3(table).digest() != digest:
        raise CorruptPackError(f"{what} has a corrupt entry table")
    if name != digest.hex() and not (whole and name.startswith("tmp-")):
        raise CorruptPackError(f"{what} is not named after its table ({short(digest)})")
    entries = []
    for oid, kind, codec, entry_offset, raw_len, stored_len, check in ROW.iter_unpack(table):
        if entry_offset + stored_len > offset or kind not in Kind._value2member_map_:
            raise CorruptPackError(f"{what} lists an entry outside its data")
        entries.append(
            Entry(ObjectId(oid), Kind(kind), codec, entry_offset, raw_len, stored_len, check)
        )
    return entries


def reclaim_temporary(packs: Path) -> list[str]:
    """Remove temporary packs left by processes that died mid-write (killed, crashed,
    power lost): `tmp-<pid>-...` whose process no longer exists. Nothing in the index
    points into a temporary pack, so removing one loses nothing."""
    removed = []
    for path in packs.glob("tmp-*"):
        try:
            pid = int(path.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid == os.getpid() or pid_alive(pid):
            continue
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path.name)
    return removed


def pack_size(trailer: bytes) -> int:
    """The size of the pack a checked trailer belongs to."""
    return int(FOOTER.unpack(trailer[-FOOTER.size :])[3]) + len(trailer)
