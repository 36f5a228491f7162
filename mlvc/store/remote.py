"""A remote's layout (docs/format.md, Remote layout): packs and their index files, run
lists and tags, over a transport; everything downloaded is verified before it is used.

Write order: a pack, then its index file; run lists after the packs their runs need;
tags by compare-and-swap. So a reader that trusts only what index files and run lists
name never meets a missing or partial pack.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import blake3

from mlvc.errors import CorruptObjectError, CorruptPackError, MlvcError, RefConflictError
from mlvc.ids import ObjectId, from_hex, short
from mlvc.store import verify
from mlvc.store.entry import Entry
from mlvc.store.fsutil import atomic_write
from mlvc.store.pack import (
    ENTRY,
    ENTRY_MAGIC,
    FOOTER,
    HEADER,
    MAGIC,
    READABLE,
    ROW,
    newer,
    pack_size,
    parse_trailer,
    read_trailer,
    trailer_version,
)
from mlvc.store.refs import TagMove, check_tag_name, tag_move_from_json, tag_move_json
from mlvc.store.transport import Transport

_NAME = re.compile(r"[0-9a-f]{64}")
T = TypeVar("T")
TAMPERED = "the remote is damaged or tampered with: nothing was taken from it"
# halves(count, here, there): runs `here` in this process and, where `count` items make
# a second process worth it, `there` in one (`forked.share`); both results, the second
# None if `there` did not run (the caller then runs it here).
Halves = Callable[[int, Callable[[], bool], Callable[[], bool]], tuple[bool, Any]]
# A ranged read costs about a millisecond: bridge gaps below this rather than pay a
# second request, and read the whole pack when more than this share of it is needed.
MERGE_GAP = 512 << 10
WHOLE_SHARE = 0.10
Fetched = tuple[list[tuple[int, int]], list[bytes]]  # byte ranges of a pack, their bytes


@dataclass(frozen=True)
class RemotePack:
    """A pack a remote holds, known from its verified index file."""

    name: str
    size: int
    entries: tuple[Entry, ...]
    trailer: bytes = field(default=b"", repr=False, compare=False)
    """The index file's bytes (the pack's own table and footer), as verified."""


def plan_reads(entries: Iterable[Entry], size: int) -> list[tuple[int, int]]:
    """The byte ranges [start, end) that fetch `entries` from a pack of `size` bytes:
    ranges closer than MERGE_GAP merged, the whole pack when over WHOLE_SHARE of it."""
    spans = sorted((e.offset, e.offset + e.stored_len) for e in entries)
    if not spans:
        return []
    if sum(end - start for start, end in spans) > size * WHOLE_SHARE:
        return [(0, size)]
    merged = [spans[0]]
    for start, end in spans[1:]:
        last_start, last_end = merged[-1]
        if start - last_end < MERGE_GAP:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


class Remote:
    """One named remote: its transport, and a cache of what was verified from it."""

    def __init__(self, name: str, transport: Transport, cache: Path) -> None:
        self.name = name
        self.transport = transport
        self.cache = cache
        transport.keep_uploads_in(cache / "uploads")

    @property
    def where(self) -> str:
        return f"remote {self.name} ({self.transport.url})"

    # -- packs ---------------------------------------------------------------------

    def packs(self) -> dict[str, RemotePack]:
        """Every pack with an index file: one LIST, then a GET per index file not yet
        cached. A pack without its index file (an interrupted push) is not listed."""
        listed = self.transport.listdir("packs")
        return {
            stem: self._pack_index(stem)
            for stem in named(listed, "idx")
            if f"{stem}.pack" in listed
        }

    def _pack_index(self, name: str) -> RemotePack:
        what = f"index file of pack {name[:12]} on {self.where}"

        def check(trailer: bytes) -> RemotePack:
            entries = parse_trailer(what, name, trailer)
            return RemotePack(name, pack_size(trailer), tuple(entries), trailer)

        found = self.named_file(f"packs/{name}.idx", "packs", check)
        if found is None:
            raise CorruptPackError(f"{what} vanished", hint="was the remote pruned? try again")
        return found

    def named_file(self, path: str, cached_in: str, check: Callable[[bytes], T]) -> T | None:
        """An immutable file of the remote, through `check` (which raises MlvcError for
        bytes that fail it, e.g. against the file's name): from the cache if the cached copy passes,
        else from the remote (a damaged cached copy is read again), then cached. None
        if the remote has no such file."""
        cached = self.cache / cached_in / path.rsplit("/", 1)[-1]
        try:
            return check(cached.read_bytes())
        except FileNotFoundError:
            pass
        except MlvcError:  # the cached copy was damaged here: the remote still has it
            cached.unlink(missing_ok=True)
        data = self.transport.read(path)
        if data is None:
            return None
        found = check(data)
        self._cache(cached_in, cached.name, data)
        return found

    def upload_pack(self, local: Path) -> str:
        """Upload a sealed local pack, then its index file: never an index first."""
        trailer = read_trailer(local)
        name = local.stem
        parse_trailer(f"pack {local.name}", name, trailer)
        self.transport.upload(f"packs/{name}.pack", local)
        self.transport.write(f"packs/{name}.idx", trailer)
        self._cache("packs", f"{name}.idx", trailer)  # the next push lists, never GETs it
        return name

    def _cache(self, directory: str, name: str, data: bytes) -> None:
        """Keep a verified, content-named file: it can never go stale."""
        cached = self.cache / directory / name
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cached, data)

    def read_objects(self, pack: RemotePack, wanted: Iterable[Entry]) -> dict[ObjectId, bytes]:
        """The raw bytes of `wanted` entries of `pack`, each verified against its id (and
        its schema, for metadata) before it is returned."""
        return {e.id: raw for e, _, raw in self.read_verified(pack, wanted)}

    def read_verified(
        self, pack: RemotePack, wanted: Iterable[Entry]
    ) -> Iterator[tuple[Entry, memoryview, bytes]]:
        """(entry, stored bytes, raw bytes) of `wanted` entries of `pack`, each verified
        against its id (and its schema, for metadata) before it is yielded. The ranges
        of one pack are read together (merged: `plan_reads`)."""
        entries = list(wanted)
        return self.verified(pack, entries, self.fetch_ranges(pack, entries))

    def fetch_ranges(self, pack: RemotePack, entries: list[Entry]) -> Fetched:
        """The byte ranges holding `entries` and their bytes, unverified: the transfer
        alone, which `take` runs ahead of the verifying and storing of earlier packs."""
        ranges = plan_reads(entries, pack.size)
        return ranges, self.transport.read_ranges(f"packs/{pack.name}.pack", ranges)

    def verified(
        self,
        pack: RemotePack,
        entries: list[Entry],
        fetched: tuple[list[tuple[int, int]], list[bytes]],
    ) -> Iterator[tuple[Entry, memoryview, bytes]]:
        """`entries` out of the bytes `fetch_ranges` brought, each verified before it is
        yielded."""
        ranges, blobs = fetched
        where = f"pack {pack.name[:12]} on {self.where}"
        starts = [start for start, _ in ranges]
        for e in entries:
            at = bisect.bisect_right(starts, e.offset) - 1
            skip = e.offset - starts[at]
            stored = memoryview(blobs[at])[skip : skip + e.stored_len]
            raw = verify.unpack(e, stored, where, TAMPERED)
            verify.check_id(e.id, e.kind, raw, where, TAMPERED)
            verify.check_schema(e.id, e.kind, raw, where)
            yield e, stored, raw

    def fetch_pack(self, pack: RemotePack, buffer: memoryview) -> memoryview:
        """A whole pack into the start of `buffer`, unverified (`verify_pack`)."""
        view = buffer[: pack.size]
        self.transport.read_into(f"packs/{pack.name}.pack", view)
        return view

    def verify_pack(self, pack: RemotePack, data: memoryview, halves: Halves | None = None) -> None:
        """A whole pack read by `fetch_pack`, checked before any of it is kept: its
        header, its trailer against its verified index file, and each entry's header
        and bytes against its id (and schema). `halves` (from porcelain: `forked` sits
        above this layer) may check half the entries in a second process; hashing
        20,000 small entries is 0.05 s of one core. The pack's bytes are shared with
        it, not copied."""
        where = f"pack {pack.name[:12]} on {self.where}"
        trailer = bytes(data[len(data) - len(pack.entries) * ROW.size - FOOTER.size :])
        version = trailer_version(trailer)
        if version > READABLE[-1] and data[: HEADER.size] == HEADER.pack(MAGIC, version, 0):
            raise newer(where, version)
        if version not in READABLE or data[: HEADER.size] != HEADER.pack(MAGIC, version, 0):
            raise CorruptPackError(f"{where} has no valid header", hint=TAMPERED)
        if (
            trailer != pack.trailer
            and tuple(parse_trailer(where, pack.name, trailer)) != pack.entries
        ):
            raise CorruptPackError(f"{where} does not match its index file", hint=TAMPERED)
        entries = pack.entries
        headed = version == 1  # a version-1 pack repeats each row before the entry
        if halves is None:
            _verify_entries(entries, data, where, headed)
            return
        half = len(entries) // 2
        _, theirs = halves(
            len(entries),
            lambda: _verify_entries(entries[:half], data, where, headed),
            lambda: _verify_entries(entries[half:], data, where, headed),
        )
        if theirs is None:  # no process to be had, or it died: their half here
            _verify_entries(entries[half:], data, where, headed)

    # -- run lists -----------------------------------------------------------------

    def add_run_list(self, runs: Iterable[ObjectId]) -> str:
        """Publish a run list. Call it only once every object the runs reach is in
        packs with index files on this remote."""
        data = "".join(sorted(f"{r.hex()}\n" for r in set(runs))).encode()
        name = blake3.blake3(data).hexdigest()
        self.transport.write(f"runs/{name}.runs", data)
        self._cache("runs", f"{name}.runs", data)
        return name

    def runs(self) -> set[ObjectId]:
        """The union of every run list: one LIST, then a GET per list not yet cached."""
        found: set[ObjectId] = set()
        for stem in named(self.transport.listdir("runs"), "runs"):
            found.update(self._run_list(stem))
        return found

    def _run_list(self, name: str) -> list[ObjectId]:
        found = self.named_file(
            f"runs/{name}.runs", "runs", lambda data: _parse_run_list(data, name, self.where)
        )
        return _parse_run_list(b"", name, self.where) if found is None else found

    # -- tags ------------------------------------------------------------------------

    def tag_names(self) -> list[str]:
        """The tags on the remote (one LIST); names that are not valid tag names (a
        `.lock`, a stray file) are ignored."""
        found = []
        for file in self.transport.listdir("refs/tags"):
            try:
                found.append(check_tag_name(file))
            except MlvcError:
                continue
        return sorted(found)

    def tag_history(self, name: str) -> list[TagMove]:
        """Every recorded move of tag `name`, oldest first: one LIST, then a GET per
        history file not yet cached; each is checked against its name."""
        check_tag_name(name)
        moves = []
        for stem in named(self.transport.listdir(f"logs/tags/{name}"), "json"):
            file = f"{stem}.json"
            move = self.named_file(
                f"logs/tags/{name}/{file}", f"logs/{name}", partial(self._move, name, file)
            )
            if move is not None:
                moves.append(move)
        return sorted(moves, key=lambda m: m.time)

    def _move(self, name: str, file: str, data: bytes) -> TagMove:
        """One tag history file, checked against its name and parsed."""
        what = f"history file {file[:12]} of tag {name} on {self.where}"
        if blake3.blake3(data).hexdigest() != file.partition(".")[0]:
            raise CorruptObjectError(
                f"{what} does not match its name", hint="the remote is damaged or tampered with"
            )
        move = tag_move_from_json(data)
        if move is None:
            raise CorruptObjectError(f"{what} is malformed")
        return move

    def tag(self, name: str) -> ObjectId | None:
        found = self._read_tag(name)
        return found[0] if found else None

    def _read_tag(self, name: str) -> tuple[ObjectId, str] | None:
        check_tag_name(name)
        found = self.transport.read_ref(f"refs/tags/{name}")
        if found is None:
            return None
        data, version = found
        try:
            return from_hex(data.decode("ascii").strip()), version
        except (UnicodeDecodeError, MlvcError):
            raise CorruptObjectError(
                f"tag {name} on {self.where} does not hold a run id",
                hint="move it again with a client you trust",
            ) from None

    def move_tag(self, name: str, move: TagMove) -> None:
        """Point tag `name` at `move.new` if it still points at `move.old` (None: absent);
        then record the move in the tag's history. Raises RefConflictError."""
        if move.new is None:
            raise ValueError("deleting a remote tag is not supported")
        current = self._read_tag(name)
        if (current[0] if current else None) != move.old:
            have = short(current[0]) if current else "nothing"
            raise RefConflictError(
                f"tag {name} on {self.where} points at {have}, not the expected run",
                hint="fetch, look at the tag, and move it again",
            )
        data = f"{move.new.hex()}\n".encode()
        self.transport.swap_ref(f"refs/tags/{name}", data, current[1] if current else None)
        entry = tag_move_json(move).encode()
        digest = blake3.blake3(entry).hexdigest()
        self.transport.write(f"logs/tags/{name}/{digest}.json", entry)


def named(listed: Iterable[str], suffix: str) -> list[str]:
    """The stems of the files `listed` named `<64 hex>.<suffix>`: the only names readers
    take (a temporary file an upload left, a later version's file, are skipped)."""
    found = []
    for file in listed:
        stem, _, rest = file.partition(".")
        if rest == suffix and _NAME.fullmatch(stem):
            found.append(stem)
    return found


def _parse_run_list(data: bytes, name: str, where: str) -> list[ObjectId]:
    if blake3.blake3(data).hexdigest() != name:
        raise CorruptObjectError(
            f"run list {name[:12]} on {where} does not match its name",
            hint="the remote is damaged or tampered with",
        )
    try:
        return [from_hex(line) for line in data.decode("ascii").splitlines()]
    except (UnicodeDecodeError, MlvcError):
        raise CorruptObjectError(f"run list {name[:12]} on {where} is malformed") from None


def _verify_entries(
    entries: Sequence[Entry], data: memoryview, where: str, headed: bool = False
) -> bool:
    """Each entry's bytes in the pack `data` against its id (and schema); `headed`: a
    version-1 pack, whose entry headers are checked too."""
    head, head_size = ENTRY.pack, ENTRY.size  # 20,000 entries a pack: names bound once
    for e in entries:
        start = e.offset
        if headed and data[start - head_size : start] != head(
            ENTRY_MAGIC, e.kind, e.codec, 0, e.id, e.raw_len, e.stored_len, e.check
        ):
            raise CorruptObjectError(
                f"corrupt object {e.id.hex()}: its entry header is damaged in {where}",
                hint=TAMPERED,
            )
        stored = data[start : start + e.stored_len]
        if verify.plain_chunk(e):  # hashed where it lies: no copy
            if blake3.blake3(stored).digest() != e.id:
                verify.check_id(e.id, e.kind, stored, where, TAMPERED)  # raises, naming it
            continue
        raw = verify.unpack(e, stored, where, TAMPERED)
        verify.check_id(e.id, e.kind, raw, where, TAMPERED)
        verify.check_schema(e.id, e.kind, raw, where)
    return True
