"""`mlvc fsck [--full] [--repair]`: check a store, and repair what can be repaired.

The default check reads metadata only (pack trailers, the index, every run and the
trees and manifests its inputs and outputs reach, tags, the run log): fast on large
stores. `--full` also reads every object's bytes and checks them against their ids.

`--repair` never deletes data that might be recoverable. Under the workspace lock, it
removes temporary packs whose writer is gone; moves packs whose trailer is damaged to
`.mlvc/quarantine/`; copies the sound objects of a pack with damaged entries into a new
pack and quarantines the old one; rebuilds the index from the packs (only committed runs,
damaged runs listed); takes missing or damaged objects again from the default remote,
if there is one; then checks again.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from mlvc.errors import MlvcError
from mlvc.repo import Repo
from mlvc.store import gclock, purged, runlog
from mlvc.store.check import (
    Problem,
    check_bytes,
    check_index_file,
    check_packs,
    check_purged,
    check_references,
    check_run_log,
    read_tables,
    stale_temporary,
)
from mlvc.store.db import CorruptIndexError
from mlvc.store.refs import Tags
from mlvc.store.repack import copy_entries

Progress = Callable[[int], None]


@dataclass(frozen=True)
class FsckResult:
    problems: tuple[Problem, ...]
    full: bool
    packs: int
    repaired: tuple[str, ...] = ()  # what --repair did, one line each

    @property
    def clean(self) -> bool:
        return not any(p.serious for p in self.problems)


def fsck(
    repo: Repo, full: bool = False, repair: bool = False, progress: Progress | None = None
) -> FsckResult:
    if not repair:
        return _check(repo, full, progress)
    from mlvc.workspace.lock import workspace_lock

    repo.close()  # its object store would hold the use lock shared
    with workspace_lock(repo.dir), gclock.exclusive(repo.dir):  # packs are rewritten
        done = _repair(repo, progress)
    result = _check(repo, True, None)
    return FsckResult(result.problems, True, result.packs, tuple(done))


def _check(repo: Repo, full: bool, progress: Progress | None) -> FsckResult:
    try:
        problems = check_index_file(repo.db)
    except CorruptIndexError as exc:  # missing, empty, not a database
        problems = [Problem("damaged-index", exc.message, file="index.db")]
    if problems:  # a damaged database answers nothing else reliably
        return FsckResult(tuple(problems), full, 0)
    try:
        found, tables = check_packs(repo.dir / "packs", repo.index, full, progress)
        problems += found
        refs, _ = check_references(
            repo.index, lambda oid: repo.store.get(oid)[1], bool(repo.config.remotes)
        )
        problems += refs
        problems += check_run_log(repo.dir / runlog.NAME, repo.index)
        problems += check_purged(repo.dir)
        problems += _check_tags(repo)
    except sqlite3.DatabaseError as exc:
        problems.append(Problem("damaged-index", f"index.db: {exc}", file="index.db"))
        tables = {}
    return FsckResult(tuple(problems), full, len(tables))


def _check_tags(repo: Repo) -> list[Problem]:
    tags = Tags(repo.dir)
    problems = []
    for name in tags.names():
        where = f"refs/tags/{name}"
        try:
            oid = tags.get(name)
        except MlvcError:
            problems.append(Problem("bad-tag", f"tag {name} holds no run id", file=where))
            continue
        if oid is not None and not repo.index.history.has_run(oid):
            problems.append(
                Problem("dangling-tag", f"tag {name} names no run here", oid.hex(), file=where)
            )
    return problems


def _repair(repo: Repo, progress: Progress | None) -> list[str]:
    from mlvc.porcelain.rebuild import rebuild

    done = _mend_run_log(repo) + _mend_purged(repo)
    packs = repo.dir / "packs"
    for leftover in stale_temporary(packs):
        leftover.unlink(missing_ok=True)
        done.append(f"removed packs/{leftover.name}, a temporary pack its writer left")
    found, tables = read_tables(packs)  # the index may be damaged: packs alone
    found += check_bytes(packs, tables, progress)
    damaged_packs = {p.file for p in found if p.kind == "damaged-pack"}
    for file in sorted(f for f in damaged_packs if f):
        done.append(f"moved {file} to quarantine/ (its trailer is damaged)")
        _quarantine(repo, file)
    bad = {(p.file, p.id) for p in found if p.kind == "corrupt-object"}
    for name in sorted({file for file, _ in bad if file}):
        stem = name.removeprefix("packs/").removesuffix(".pack")
        damaged = {oid for f, oid in bad if f == name}
        sound = [e for e in tables[stem] if e.id.hex() not in damaged]
        copy_entries(packs, stem, sound)
        _quarantine(repo, name)
        done.append(f"copied {len(sound)} sound object(s) of {name} to a new pack; quarantined it")
    repo.close()
    rebuilt = rebuild(repo)
    done.append(f"rebuilt the index: {rebuilt.runs} run(s), {rebuilt.objects} object(s)")
    done += [f"left out damaged run {oid[:12]}" for oid in rebuilt.damaged]
    done += _refetch(repo)
    return done


def _mend_run_log(repo: Repo) -> list[str]:
    """A damaged or lost runs.log written anew from a sound index, before the rebuild
    that replays it: a run the index lists committed, and a damaged line must not take
    it out of history. With the index damaged too, the log is left as it is."""
    path = repo.dir / runlog.NAME
    contents = runlog.read(path)
    if contents is not None and not contents.damaged:
        return []
    try:
        check_index_file(repo.db)
        indexed = repo.index.history.run_ids(ok_only=False)[::-1]  # oldest first
    except (MlvcError, sqlite3.DatabaseError):
        return [] if contents is None else ["kept runs.log as it is: the index is damaged too"]
    known = set(indexed)
    logged = [] if contents is None else [r for r in contents.runs if r in known]
    in_log = set(logged)
    runs = logged + [r for r in indexed if r not in in_log]
    forgotten = set() if contents is None else contents.forgotten - known
    runlog.rewrite(path, runs, sorted(forgotten))
    return [f"wrote runs.log anew from the index ({len(runs)} run(s))"]


def _mend_purged(repo: Repo) -> list[str]:
    """Damaged tombstone lines dropped; the file as it was kept in quarantine/."""
    stones, damaged = purged.parse(repo.dir)
    if not damaged:
        return []
    target = repo.dir / "quarantine"
    target.mkdir(exist_ok=True)
    shutil.copyfile(repo.dir / purged.NAME, target / f"{purged.NAME}-{os.getpid()}")
    purged.rewrite(repo.dir, stones)
    return [f"dropped {len(damaged)} damaged line(s) of purged (a copy is in quarantine/)"]


def _quarantine(repo: Repo, file: str) -> None:
    """Move a pack out of the store's way, keeping its bytes for a person to look at."""
    target = repo.dir / "quarantine"
    target.mkdir(exist_ok=True)
    source = repo.dir / file
    os.replace(source, target / source.name)


def _refetch(repo: Repo) -> list[str]:
    """Take what runs need and this store lacks from the default remote, if any."""
    if not repo.config.remotes:
        return []
    from mlvc.porcelain.fetch import open_session
    from mlvc.store.download import take

    _, missing = check_references(repo.index, lambda oid: repo.store.get(oid)[1], True)
    if not missing:
        return []
    session = open_session(repo, None)
    stats = take(session.remote, session.catalog, repo.store, missing)
    return [f"took {stats.objects} missing object(s) again from {session.remote.where}"]
