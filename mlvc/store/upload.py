"""Uploading what a remote lacks, as packs of at least PUSH_PACK bytes.

A request costs about a millisecond of client time however small it is, so objects
travel in large packs: a local pack the remote lacks entirely and that is big enough
goes as it is; otherwise the missing objects are copied (stored bytes, no recompression)
into new packs, metadata apart from file data so that `fetch` finds runs, trees and
manifests close together. Each pack is uploaded, with its index file after it, as soon
as it is sealed, so a push needs one pack of scratch space at a time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from mlvc.errors import CorruptPackError, ObjectNotFoundError
from mlvc.ids import Kind, short
from mlvc.store.entry import Entry
from mlvc.store.pack import PackWriter
from mlvc.store.remote import Remote

PUSH_PACK = 64 << 20

Progress = Callable[[int], None]


@dataclass
class UploadStats:
    packs: int = 0
    objects: int = 0
    bytes: int = 0


class Uploader:
    """Sends the objects of local packs (`packs_dir`) that `remote` lacks."""

    def __init__(
        self, packs_dir: Path, remote: Remote, scratch: Path, progress: Progress | None
    ) -> None:
        self.packs_dir = packs_dir
        self.remote = remote
        self.scratch = scratch
        self.progress = progress
        self.stats = UploadStats()
        self._fds: dict[str, int] = {}

    def run(self, by_pack: dict[str, list[Entry]], have: AbstractSet[bytes]) -> UploadStats:
        loose: list[tuple[str, Entry]] = []
        try:
            for name, entries in by_pack.items():
                missing = [e for e in entries if e.id not in have]
                path = self.packs_dir / f"{name}.pack"
                if missing and len(missing) == len(entries) and _size(path) >= PUSH_PACK:
                    self.remote.upload_pack(path)
                    self._count(len(entries), path.stat().st_size)
                else:
                    loose += [(name, e) for e in missing]
            self._repack([x for x in loose if x[1].kind is not Kind.CHUNK])
            self._repack([x for x in loose if x[1].kind is Kind.CHUNK])
        finally:
            for fd in self._fds.values():
                os.close(fd)
        return self.stats

    def _repack(self, items: list[tuple[str, Entry]]) -> None:
        writer: PackWriter | None = None
        try:
            for pack, e in items:
                if writer is None:
                    writer = PackWriter(self.scratch)
                writer.add(e.id, e.kind, e.codec, e.raw_len, self._stored(pack, e))
                if writer.size >= PUSH_PACK:
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
        count = len(writer.entries)
        writer.seal()
        path = writer.publish()
        try:
            self.remote.upload_pack(path)
            self._count(count, path.stat().st_size)
        finally:
            path.unlink(missing_ok=True)

    def _count(self, objects: int, size: int) -> None:
        self.stats.packs += 1
        self.stats.objects += objects
        self.stats.bytes += size
        if self.progress is not None:
            self.progress(size)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
