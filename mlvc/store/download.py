"""Taking objects from a remote into the local store, verified, as their stored bytes.

What a remote holds is known from its index files (`Catalog`); objects are read by
ranged reads grouped by pack (`Remote.read_verified`: each checked against its id and,
for metadata, its schema, before anything is kept) and written into local packs with no
recompression. Data is committed pack by pack: a pull killed part way keeps what it
took, and the next pull takes only the rest.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from mlvc.ids import Kind, ObjectId
from mlvc.store.entry import Entry
from mlvc.store.objectstore import ObjectStore
from mlvc.store.remote import Fetched, Remote, RemotePack

Progress = Callable[[int], None]
LOOKAHEAD = 2  # packs in transfer while one is verified and stored


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
) -> DownloadStats:
    """Copy `oids` from the remote into the local store, committed after each remote
    pack's share. The transfers of the next LOOKAHEAD packs run while one pack is
    verified and stored, so the network and the disk work at once; memory stays bounded
    by LOOKAHEAD + 1 packs' reads."""
    stats = DownloadStats()
    groups = iter(catalog.grouped(oids))
    pending: deque[tuple[RemotePack, list[Entry], Future[Fetched]]] = deque()
    with ThreadPoolExecutor(max_workers=LOOKAHEAD, thread_name_prefix="mlvc-pull") as pool:

        def ahead() -> None:
            group = next(groups, None)
            if group is not None:
                pack, entries = group
                pending.append((pack, entries, pool.submit(remote.fetch_ranges, pack, entries)))

        try:
            for _ in range(LOOKAHEAD):
                ahead()
            while pending:
                pack, entries, fetching = pending.popleft()
                fetched = fetching.result()
                ahead()
                for e, stored, _ in remote.verified(pack, entries, fetched):
                    store.put_stored(e, stored)
                    stats.objects += 1
                    stats.bytes += e.stored_len
                    if progress is not None:
                        progress(e.stored_len)
                del fetched
                store.commit()
        except BaseException:
            for _, _, fetching in pending:
                fetching.cancel()
            store.abort()
            raise
    return stats
