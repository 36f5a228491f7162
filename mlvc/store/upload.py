"""Uploading what a remote lacks, as packs of at least PUSH_PACK bytes.

A request costs about a millisecond of client time however small it is, so objects
travel in large packs: a local pack the remote lacks entirely and that is big enough
goes as it is; otherwise the missing objects are copied (stored bytes, no recompression)
into new packs, metadata apart from file data so that `fetch` finds runs, trees and
manifests close together. Each pack is uploaded, with its index file after it, as soon
as it is sealed, by one of `jobs` threads, while the next is being packed: a push needs
`jobs` packs of scratch space at most, and `run` returns only once every upload is over
(so the run list, written after it, never names a run whose packs are still in flight).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from mlvc.errors import CorruptPackError, ObjectNotFoundError
from mlvc.ids import Kind, short
from mlvc.store.entry import Entry
from mlvc.store.pack import FOOTER, ROW, PackWriter, read_trailer
from mlvc.store.remote import Remote

PUSH_PACK = 64 << 20

Progress = Callable[[int], None]


@dataclass
class UploadStats:
    packs: int = 0
    objects: int = 0
    bytes: int = 0


class Uploader:
    """Sends the objects of local packs (`packs_dir`) that `remote` lacks, `jobs` packs
    at a time (the transport's window bounds the parts of all of them together)."""

    def __init__(
        self,
        packs_dir: Path,
        remote: Remote,
        scratch: Path,
        progress: Progress | None,
        jobs: int = 1,
        pack_size: int = PUSH_PACK,
    ) -> None:
        self.packs_dir = packs_dir
        self.remote = remote
        self.scratch = scratch
        self.progress = progress
        self.jobs = max(1, jobs)
        self.pack_size = pack_size
        self.stats = UploadStats()
        self._fds: dict[str, int] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._sending: set[Future[tuple[int, int]]] = set()

    def run(self, by_pack: dict[str, list[Entry]], have: AbstractSet[bytes]) -> UploadStats:
        loose: list[tuple[str, Entry]] = []
        try:
            with ThreadPoolExecutor(self.jobs, thread_name_prefix="push") as self._pool:
                try:
                    for name, entries in by_pack.items():
                        missing = [e for e in entries if e.id not in have]
                        path = self.packs_dir / f"{name}.pack"
                        whole = missing and len(missing) == len(entries)
                        if whole and _size(path) >= self.pack_size and _holds(path, entries):
                            self._send(path, len(entries), temporary=False)
                        else:
                            loose += [(name, e) for e in missing]
                    self._repack([x for x in loose if x[1].kind is not Kind.CHUNK], by_pack)
                    self._repack([x for x in loose if x[1].kind is Kind.CHUNK], by_pack)
                    self._settle(0)
                except BaseException:
                    self.remote.transport.stopping.set()  # those under way stop soon
                    for sending in self._sending:  # those not started never start
                        sending.cancel()
                    raise
        finally:
            self.remote.transport.stopping.clear()
            for fd in self._fds.values():
                os.close(fd)
        return self.stats

    def _repack(self, items: list[tuple[str, Entry]], by_pack: dict[str, list[Entry]]) -> None:
        sources = {pack for pack, _ in items}
        if len(sources) == 1:
            (only,) = sources
            path = self.packs_dir / f"{only}.pack"
            if len(items) == len(by_pack[only]) and _holds(path, by_pack[only]):
                # The pack holds these objects and nothing else: a copy would be the same
                # objects in one pack under PUSH_PACK (allowed: the last of its kind). Sent
                # as it is, it goes at once and is not copied (20,000 small files: 0.3 s).
                self._send(path, len(items), temporary=False)
                return
        writer: PackWriter | None = None
        try:
            for pack, e in items:
                if writer is None:
                    writer = PackWriter(self.scratch)
                writer.add(e.id, e.kind, e.codec, e.raw_len, self._stored(pack, e))
                if writer.size >= self.pack_size:
                    self._ship(writer)
                    writer = None
            if writer is not None:
                self._ship(writer)
                writer = None
        finally:
            if writer is not None:
                writer.abort()

    def _stored(self, pack: str, e: Entry) -> bytes:
        fd = self._fds.get(pack)
        if fd is None:
            try:
                fd = self._fds[pack] = os.open(self.packs_dir / f"{pack}.pack", os.O_RDONLY)
            except FileNotFoundError:
                raise ObjectNotFoundError(
                    f"pack {pack[:12]} holding object {short(e.id)} is missing",
                    hint="the store is damaged; restore .mlvc/packs from a backup",
                ) from None
        stored = os.pread(fd, e.stored_len, e.offset)
        if len(stored) != e.stored_len:
            raise CorruptPackError(
                f"pack {pack[:12]} is shorter than the index says",
                hint="the store is damaged; run mlvc index rebuild",
            )
        return stored

    def _ship(self, writer: PackWriter) -> None:
        count = writer.count
        writer.seal()
        self._send(writer.publish(), count, temporary=True)

    def _send(self, path: Path, objects: int, temporary: bool) -> None:
        """Upload a pack (and then its index file) on a worker thread, once fewer than
        `jobs` are in flight; a `temporary` pack is deleted after."""
        self._settle(self.jobs - 1)
        assert self._pool is not None
        self._sending.add(self._pool.submit(self._upload, path, objects, temporary))

    def _upload(self, path: Path, objects: int, temporary: bool) -> tuple[int, int]:
        try:
            size = path.stat().st_size
            self.remote.upload_pack(path)
            return objects, size
        finally:
            if temporary:
                path.unlink(missing_ok=True)

    def _settle(self, limit: int) -> None:
        """Wait until at most `limit` uploads are in flight; count the finished ones here,
        on the calling thread (the progress callback need not be thread-safe). An upload's
        error is raised here."""
        while len(self._sending) > limit:
            done, self._sending = wait(self._sending, return_when=FIRST_COMPLETED)
            for finished in done:
                self._count(*finished.result())

    def _count(self, objects: int, size: int) -> None:
        self.stats.packs += 1
        self.stats.objects += objects
        self.stats.bytes += size
        if self.progress is not None:
            self.progress(size)


def _holds(path: Path, entries: list[Entry]) -> bool:
    """Whether the local pack at `path` holds `entries` and nothing else: a push of some
    runs may want part of a pack (`entries` are then those it wants), and sending the
    pack whole would send objects it does not."""
    try:
        trailer = read_trailer(path)
    except FileNotFoundError:
        return False
    return (len(trailer) - FOOTER.size) // ROW.size == len(entries)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
