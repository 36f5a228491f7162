"""`mlvc purge PATH@RUN | OBJECT`: remove the bytes of one file content from every
local pack (a leaked secret, a licence problem), leaving a tombstone.

The content's own objects go (its chunk, or its manifest, manifest nodes and the chunks
no other content shares); runs that read or wrote it still load and show, and reading it
says it was purged, when, by whom and why (`.mlvc/purged`). Packs are rewritten as `gc`
rewrites them, under the same exclusive lock; the tombstone is written first, so a purge
killed part way is finished by running it again. With `-r NAME`, the remote's packs
are rewritten too and a tombstone is left there (store/remotepurge.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from mlvc.errors import MlvcError
from mlvc.ids import Kind, ObjectId, short
from mlvc.lineage.resolve import resolve_path_at
from mlvc.porcelain.fetch import fetch
from mlvc.porcelain.gc import live_objects
from mlvc.porcelain.pull import local_closure
from mlvc.porcelain.push import reclaim_scratch
from mlvc.porcelain.remote import find_remote, open_remote
from mlvc.repo import Repo
from mlvc.store import gclock, purged
from mlvc.store.check import read_tables
from mlvc.store.remotepurge import RemotePurge, purge_remote
from mlvc.store.repack import rewrite_pack


class PurgeError(MlvcError):
    pass


@dataclass(frozen=True)
class PurgeResult:
    id: ObjectId
    removed: int  # objects whose bytes are gone (the content and its unshared chunks)
    bytes: int
    shared: int  # chunks kept: other contents use them too
    packs_rewritten: int
    already: bool = False  # purged here before: only the remotes were purged now
    remotes: tuple[RemotePurge, ...] = ()


def purge(
    repo: Repo, target: str, reason: str, user: str, when: str, remotes: Sequence[str] = ()
) -> PurgeResult:
    """Purge the content `target` names here, then on each of `remotes` (whose runs are
    fetched first, so that a chunk one of them shares is kept)."""
    for name in remotes:
        fetch(repo, name)
    oid, stone = _content(repo, target)
    if stone is not None:  # purged here already: the remotes are what is left
        found = PurgeResult(oid, 0, 0, 0, 0, already=True)
    else:
        repo.close()  # its object store holds the use lock shared: let go before taking it
        with gclock.exclusive(repo.dir):
            own, _ = local_closure(repo, [oid], True)
            others = live_objects(repo, leaf=oid)
            doomed = {oid} | {o for o in own if o not in others}
            rest = tuple(sorted(o.hex() for o in doomed - {oid}))
            stone = purged.Tombstone(oid.hex(), when, user, reason, rest)
            purged.add(repo.dir, [stone])
            removed, size, rewritten = _rewrite_without(repo, doomed)
        found = PurgeResult(oid, removed, size, len(own) - len(doomed), rewritten)
    done = tuple(_on_remote(repo, name, stone) for name in remotes)
    return replace(found, remotes=done)


def _on_remote(repo: Repo, name: str, stone: purged.Tombstone) -> RemotePurge:
    remote = open_remote(repo, find_remote(repo, name))
    scratch = repo.dir / "tmp"
    scratch.mkdir(exist_ok=True)
    reclaim_scratch(scratch)
    work = Path(tempfile.mkdtemp(prefix=f"purge-{os.getpid()}-", dir=scratch))
    try:
        return purge_remote(remote, stone, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _content(repo: Repo, target: str) -> tuple[ObjectId, purged.Tombstone | None]:
    """The file content `target` names (PATH@RUN, or an object id or prefix), and its
    tombstone if it was purged here already."""
    stones = purged.read(repo.dir)
    if "@" in target:
        record = resolve_path_at(repo, target).record
        if record.kind != "file":
            raise PurgeError(
                f"{target} is a {record.kind}", hint="purge the files in it one at a time"
            )
        oid = record.id
    else:
        done = [s for h, s in stones.items() if h.startswith(target.lower())]
        if len(done) == 1 and len(target) >= 4:
            return ObjectId(bytes.fromhex(done[0].id)), done[0]
        oid = repo.store.resolve(target)
    if oid.hex() in stones:
        return oid, stones[oid.hex()]
    kind = repo.store.kind(oid)
    if kind not in (Kind.CHUNK, Kind.MANIFEST):
        raise PurgeError(
            f"{short(oid)} is a {kind.label}, not file content",
            hint="name a file: PATH@RUN, or the id mlvc show lists for it",
        )
    return oid, None


def _rewrite_without(repo: Repo, doomed: set[ObjectId]) -> tuple[int, int, int]:
    """Every pack holding a doomed object, rewritten without it (new pack indexed, then
    the old one deleted). Returns (objects removed, their bytes, packs rewritten)."""
    packs = repo.dir / "packs"
    _, tables = read_tables(packs)
    removed = size = rewritten = 0
    for name, entries in tables.items():
        gone = [e for e in entries if e.id in doomed]
        if not gone:
            continue
        rewrite_pack(packs, repo.index, name, [e for e in entries if e.id not in doomed])
        removed += len(gone)
        size += sum(e.stored_len for e in gone)
        rewritten += 1
    return removed, size, rewritten
