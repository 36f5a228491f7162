"""`mlvc purge PATH@RUN | OBJECT`: remove the bytes of one file content from every
local pack (a leaked secret, a licence problem), leaving a tombstone.

The content's own objects go (its chunk, or its manifest, manifest nodes and the chunks
no other content shares); runs that read or wrote it still load and show, and reading it
says it was purged, when, by whom and why (`.mlvc/purged`). Packs are rewritten as `gc`
rewrites them, under the same exclusive lock; the tombstone is written first, so a purge
killed part way is finished by running it again. Copies on remotes are not touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlvc.errors import MlvcError
from mlvc.ids import Kind, ObjectId, short
from mlvc.lineage.resolve import resolve_path_at
from mlvc.porcelain.gc import live_objects
from mlvc.porcelain.pull import local_closure
from mlvc.repo import Repo
from mlvc.store import gclock, purged
from mlvc.store.check import read_tables
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


def purge(repo: Repo, target: str, reason: str, user: str, when: str) -> PurgeResult:
    oid = _content(repo, target)
    repo.close()  # its object store holds the use lock shared: let go before taking it
    with gclock.exclusive(repo.dir):
        own, _ = local_closure(repo, [oid], True)
        others = live_objects(repo, leaf=oid)
        doomed = {oid} | {o for o in own if o not in others}
        purged.add(repo.dir, [purged.Tombstone(oid.hex(), when, user, reason)])
        removed, size, rewritten = _rewrite_without(repo, doomed)
    return PurgeResult(oid, removed, size, len(own) - len(doomed), rewritten)


def _content(repo: Repo, target: str) -> ObjectId:
    """The file content `target` names: PATH@RUN, or an object id (prefix)."""
    if "@" in target:
        record = resolve_path_at(repo, target).record
        if record.kind != "file":
            raise PurgeError(
                f"{target} is a {record.kind}", hint="purge the files in it one at a time"
            )
        oid = record.id
    else:
        oid = repo.store.resolve(target)
    kind = repo.store.kind(oid)
    if kind not in (Kind.CHUNK, Kind.MANIFEST):
        raise PurgeError(
            f"{short(oid)} is a {kind.label}, not file content",
            hint="name a file: PATH@RUN, or the id mlvc show lists for it",
        )
    return oid


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
