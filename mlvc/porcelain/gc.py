"""`mlvc gc [--apply] [--grace 2h]` and `mlvc forget RUN...`: reclaim what nothing needs.

An object is live when a run in history, a tag or the workspace state (tracked paths)
reaches it; every other object, and every duplicate copy the index does not point at,
is garbage. `gc` is a dry run unless `--apply`: it says how many objects and bytes it
would free. Applying rewrites each pack holding garbage: its live objects are copied
(stored bytes) into a new pack, published and indexed in one transaction, and only then
is the old pack deleted, so a crash at any point loses nothing (an old pack left behind
is garbage the next gc removes). Packs younger than the grace period are never touched
(a command may be about to commit them), and `gc --apply` holds the store's use lock
exclusively (store/gclock.py): commands that read or write objects wait for it and it
waits for them, so a concurrent `run` never refers to an object gc removed.

`forget` drops runs from history (their rows, and a forget line in `runs.log` so that
a rebuild does not bring them back); the objects only they reached go at the next gc.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from mlvc.errors import MlvcError
from mlvc.ids import Kind, ObjectId, short
from mlvc.porcelain.pull import local_closure
from mlvc.repo import Repo
from mlvc.store import gclock
from mlvc.store.check import read_tables
from mlvc.store.refs import Tags
from mlvc.store.repack import rewrite_pack

Progress = Callable[[int], None]
_GRACE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class GcError(MlvcError):
    pass


def parse_grace(text: str) -> float:
    """`2h`, `30m`, `45s`, `1d` or plain seconds."""
    match = _GRACE.fullmatch(text.strip())
    if match is None:
        raise GcError(f"'{text}' is not a duration", hint="write e.g. --grace 2h, 30m or 0")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class GcResult:
    applied: bool
    objects: int  # garbage objects (freed, when applied)
    bytes: int  # their stored bytes
    packs_rewritten: int
    packs_removed: int
    young_packs: int  # left alone: younger than the grace period
    live_objects: int


@dataclass(frozen=True)
class ForgetResult:
    runs: tuple[ObjectId, ...]


def gc(repo: Repo, apply: bool, grace: float, progress: Progress | None = None) -> GcResult:
    if not apply:
        return _collect(repo, False, grace, progress)
    repo.close()  # an open object store holds the use lock shared
    with gclock.exclusive(repo.dir):
        return _collect(repo, True, grace, progress)


def live_objects(repo: Repo, leaf: bytes | None = None) -> dict[ObjectId, Kind]:
    """Everything a run in history, a tag or a tracked path reaches (`leaf`: counted,
    not entered)."""
    index = repo.index
    roots: list[bytes] = list(index.history.run_ids(ok_only=False))
    roots += list(Tags(repo.dir).pointing_at())
    roots += index.tracked_ids()
    return local_closure(repo, roots, True, leaf)[0]


def _collect(repo: Repo, apply: bool, grace: float, progress: Progress | None) -> GcResult:
    live = live_objects(repo)
    packs = repo.dir / "packs"
    _, tables = read_tables(packs)  # a damaged pack is fsck's business: left alone
    where = {e.id: name for name, es in repo.index.entries_by_pack().items() for e in es}
    now = time.time()
    objects = size = rewritten = removed = young = 0
    for name, entries in tables.items():
        path = packs / f"{name}.pack"
        if now - path.stat().st_mtime < grace:
            young += 1
            continue
        keep = [e for e in entries if e.id in live and where.get(e.id) == name]
        if len(keep) == len(entries):
            continue
        objects += len(entries) - len(keep)
        size += sum(e.stored_len for e in entries) - sum(e.stored_len for e in keep)
        if apply:
            rewrite_pack(packs, repo.index, name, keep)
            rewritten += bool(keep)
            removed += not keep
        if progress is not None:
            progress(path.stat().st_size if not apply else 0)
    return GcResult(apply, objects, size, rewritten, removed, young, len(live))


def forget(repo: Repo, run_ids: list[ObjectId], force: bool) -> ForgetResult:
    tagged = Tags(repo.dir).pointing_at()
    for oid in run_ids:
        if oid in tagged and not force:
            names = ", ".join(tagged[oid])
            raise GcError(
                f"run {short(oid)} is tagged ({names})",
                hint="move or delete the tag first, or use --force",
            )
    with repo.index.transaction():
        repo.index.forget_runs(run_ids)
    return ForgetResult(tuple(run_ids))
