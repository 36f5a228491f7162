"""`mlvc purge -r NAME`: purged contents removed from a remote's packs too, with a
tombstone left there (`purged/<id>.json`, docs/format.md) so that pushes from other
clones never upload them again and fetches learn why they are gone.

Each remote pack holding a doomed object is rewritten: taken whole into a scratch
directory and verified, its other objects copied into a new pack, which is uploaded
with its index file; only then are the old pack and its index file deleted (in that
order). A reader that listed them just before may find the old pack gone ("try again");
nothing it trusts ever names a missing object.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from mlvc.errors import CorruptObjectError
from mlvc.ids import ObjectId
from mlvc.store import purged
from mlvc.store.entry import Entry
from mlvc.store.purged import Tombstone
from mlvc.store.remote import Remote, RemotePack, named
from mlvc.store.repack import copy_entries


@dataclass(frozen=True)
class RemotePurge:
    remote: str
    removed: int  # objects whose bytes are gone from the remote
    bytes: int
    packs_rewritten: int


def tombstones(remote: Remote) -> dict[str, Tombstone]:
    """The remote's tombstones: one LIST, then a GET per tombstone not yet cached."""
    found = {}
    for stem in named(remote.transport.listdir("purged"), "json"):
        check = partial(_tombstone, stem, remote.where)
        stone = remote.named_file(f"purged/{stem}.json", "purged", check)
        if stone is not None:
            found[stone.id] = stone
    return found


def doomed_ids(stones: dict[str, Tombstone]) -> set[ObjectId]:
    """Every object id the tombstones took away."""
    return {ObjectId(bytes.fromhex(h)) for s in stones.values() for h in (s.id, *s.objects)}


def _tombstone(stem: str, where: str, data: bytes) -> Tombstone:
    try:
        stone = purged.decode(data)
    except ValueError as exc:
        raise CorruptObjectError(f"tombstone {stem[:12]} on {where} is malformed: {exc}") from None
    if stone.id != stem:
        raise CorruptObjectError(f"tombstone {stem[:12]} on {where} names another object")
    return stone


def purge_remote(remote: Remote, stone: Tombstone, scratch: Path) -> RemotePurge:
    """Leave `stone` on the remote (first: a push from now on skips its objects), then
    rewrite every remote pack holding one of them without it."""
    doomed = doomed_ids({stone.id: stone})
    remote.transport.write(f"purged/{stone.id}.json", purged.encode(stone))
    removed = size = rewritten = 0
    for pack in remote.packs().values():
        gone = [e for e in pack.entries if e.id in doomed]
        if gone:
            _rewrite(remote, pack, [e for e in pack.entries if e.id not in doomed], scratch)
            removed += len(gone)
            size += sum(e.stored_len for e in gone)
            rewritten += 1
    return RemotePurge(remote.name, removed, size, rewritten)


def _rewrite(remote: Remote, pack: RemotePack, keep: list[Entry], scratch: Path) -> None:
    local = scratch / f"{pack.name}.pack"
    remote.transport.download(f"packs/{pack.name}.pack", local, pack.size)
    with open(local, "rb") as handle, mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) as data:
        view = memoryview(data)
        try:
            remote.verify_pack(pack, view)  # nothing unverified is uploaded again
        finally:
            view.release()
    new, _ = copy_entries(scratch, pack.name, keep)
    if new is not None:
        remote.upload_pack(scratch / f"{new}.pack")
    # The pack first: a purge killed in between leaves only an index file, which readers
    # ignore (no pack beside it); the other order could leave the purged bytes behind.
    remote.transport.delete(f"packs/{pack.name}.pack")
    remote.transport.delete(f"packs/{pack.name}.idx")
    (remote.cache / "packs" / f"{pack.name}.idx").unlink(missing_ok=True)
    local.unlink()
