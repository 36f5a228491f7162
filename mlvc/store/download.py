"""Taking objects from a remote into the local store, verified, as their stored bytes.

What a remote holds is known from its index files (`Catalog`); objects are read by
ranged reads grouped by pack (`Remote.read_verified`: each checked against its id and,
for metadata, its schema, before anything is kept) and written into local packs with no
recompression. Data is committed pack by pack: a pull killed part way keeps what it
took, and the next pull takes only the rest.
"""

from __future__ import annotations

import contextlib
import mmap
import threading
from collections import deque
from collections.abc import Callable, Container, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mlvc.ids import Kind, ObjectId
from mlvc.store import purged
from mlvc.store.entry import Entry
from mlvc.store.objectstore import ObjectStore
from mlvc.store.remote import Fetched, Halves, Remote, RemotePack

Progress = Callable[[int], None]
LOOKAHEAD = 2  # packs in transfer while one is verified and stored
WHOLE_MAX = 256 << 20  # larger packs are read by ranges: memory stays bounded
WHOLE_SHARE = 0.5  # take a pack whole when more than this share of it is wanted


class Catalog:
    """Every object a remote holds: id -> (its pack, its entry), from the index files."""

    def __init__(self, packs: dict[str, RemotePack]) -> None:
        self.packs = packs
        self.where: dict[bytes, tuple[RemotePack, Entry]] = {}
        for pack in packs.values():
            for e in pack.entries:
                self.where.setdefault(e.id, (pack, e))

    def kind(self, oid: bytes) -> Kind | None:
        found = self.where.get(oid)
        return None if found is None else found[1].kind

    def grouped(self, oids: Iterable[bytes]) -> list[tuple[RemotePack, list[Entry]]]:
        """The entries of `oids` the remote holds, by pack, in pack order (ids it does not
        hold are left out)."""
        by_pack: dict[str, tuple[RemotePack, list[Entry]]] = {}
        for oid in oids:
            found = self.where.get(oid)
            if found is not None:
                pack, e = found
                by_pack.setdefault(pack.name, (pack, []))[1].append(e)
        return [(pack, sorted(es, key=lambda e: e.offset)) for pack, es in by_pack.values()]


@dataclass
class DownloadStats:
    objects: int = 0
    bytes: int = 0  # stored bytes taken (what travelled, before decompression)


def read_metadata(
    remote: Remote, catalog: Catalog, oids: Iterable[bytes]
) -> dict[ObjectId, tuple[Entry, bytes, bytes]]:
    """Metadata objects, verified, held in memory: id -> (entry, stored, raw)."""
    found: dict[ObjectId, tuple[Entry, bytes, bytes]] = {}
    for pack, entries in catalog.grouped(oids):
        for e, stored, raw in remote.read_verified(pack, entries):
            found[e.id] = (e, bytes(stored), raw)
    return found


def take(
    remote: Remote,
    catalog: Catalog,
    store: ObjectStore,
    oids: Iterable[bytes],
    progress: Progress | None = None,
    halves: Halves | None = None,
) -> DownloadStats:
    """Copy `oids` from the remote into the local store, committed after each remote
    pack's share (`halves`: how a whole pack's entries are verified two at a time,
    `Remote.verify_pack`). A pack mostly wanted is taken whole and kept as it is (`_whole`);
    from the others, the wanted entries are read by ranges and stored one by one. The
    transfers of the next LOOKAHEAD packs run while one pack is verified and stored, so
    the network and the disk work at once; memory stays bounded by LOOKAHEAD + 1 packs."""
    with (
        ThreadPoolExecutor(max_workers=LOOKAHEAD, thread_name_prefix="mlvc-pull") as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlvc-keep") as writer,
    ):
        taking = _Taking(remote, store, catalog.grouped(oids), pool, writer, halves)
        try:
            return taking.run(progress)
        except BaseException:
            taking.cancel()
            store.abort()
            raise


class _Taking:
    """One `take`: the packs in transfer (`pending`, LOOKAHEAD ahead) and the whole pack
    being written (`writing`, at most one)."""

    def __init__(
        self,
        remote: Remote,
        store: ObjectStore,
        groups: list[tuple[RemotePack, list[Entry]]],
        pool: ThreadPoolExecutor,
        writer: ThreadPoolExecutor,
        halves: Halves | None,
    ) -> None:
        self.remote = remote
        self.store = store
        self.groups = iter(groups)
        self.pool = pool
        self.writer = writer
        self.gone = purged.read(store.packs.parent)
        self.buffers = _Buffers()
        self.pending: deque[tuple[RemotePack, list[Entry], Future[Any], mmap.mmap | None]] = deque()
        self.writing: list[Future[None]] = []
        self.halves = halves

    def run(self, progress: Progress | None) -> DownloadStats:
        stats = DownloadStats()
        for _ in range(LOOKAHEAD):
            self.ahead()
        while self.pending:
            pack, entries, fetching, buffer = self.pending.popleft()
            fetched = fetching.result()
            self.ahead()
            if buffer is None:
                self.settle()
                _store_entries(self.remote, self.store, pack, entries, fetched)
            else:  # verified here while the previous pack is written
                self.remote.verify_pack(pack, fetched, self.halves)
                self.settle()
                self.writing.append(self.writer.submit(self.keep, pack, fetched, buffer))
            del fetched
            for e in entries:
                stats.objects += 1
                stats.bytes += e.stored_len
                if progress is not None:
                    progress(e.stored_len)
        self.settle()
        return stats

    def ahead(self) -> None:
        """Start the transfer of the next pack's share, if any."""
        group = next(self.groups, None)
        if group is None:
            return
        pack, entries = group
        if _whole(pack, entries, self.gone):
            buffer = self.buffers.take(pack.size)
            whole = self.pool.submit(self.remote.fetch_pack, pack, memoryview(buffer))
            self.pending.append((pack, entries, whole, buffer))
        else:
            ranges = self.pool.submit(self.remote.fetch_ranges, pack, entries)
            self.pending.append((pack, entries, ranges, None))

    def settle(self) -> None:
        """Wait for the whole pack being written (the index is used by one thread at a
        time)."""
        while self.writing:
            self.writing.pop().result()

    def keep(self, pack: RemotePack, data: memoryview, buffer: mmap.mmap) -> None:
        self.store.adopt_pack(pack.name, data, pack.entries)
        data.release()
        self.buffers.give(buffer)

    def cancel(self) -> None:
        for _, _, fetching, _ in self.pending:
            fetching.cancel()
        with contextlib.suppress(Exception):
            self.settle()


def _whole(pack: RemotePack, wanted: list[Entry], gone: Container[str]) -> bool:
    """Whether to take `pack` whole and keep it as it is: most of it is wanted, it is
    not too large to hold in memory, it holds file data only (metadata comes one checked
    object at a time, and a run joins history only through the run log), and nothing
    in it was purged here."""
    return (
        pack.size <= WHOLE_MAX
        and sum(e.stored_len for e in wanted) > pack.size * WHOLE_SHARE
        and all(e.kind is Kind.CHUNK and e.id.hex() not in gone for e in pack.entries)
    )


def _store_entries(
    remote: Remote, store: ObjectStore, pack: RemotePack, entries: list[Entry], fetched: Fetched
) -> None:
    for e, stored, _ in remote.verified(pack, entries, fetched):
        store.put_stored(e, stored)
    store.commit()


class _Buffers:
    """Page-aligned buffers for whole packs, reused: a fresh map costs a page fault per
    4 KiB, and an aligned one goes to the disk by O_DIRECT with no staging copy."""

    def __init__(self) -> None:
        self._free: list[mmap.mmap] = []
        self._lock = threading.Lock()  # given back by the writer thread

    def take(self, size: int) -> mmap.mmap:
        with self._lock:
            for buffer in self._free:
                if len(buffer) >= size:
                    self._free.remove(buffer)
                    return buffer
        return mmap.mmap(-1, max(size, 1))

    def give(self, buffer: mmap.mmap) -> None:
        with self._lock:
            self._free.append(buffer)
