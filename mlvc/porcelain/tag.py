"""`mlvc tag`: name a run, move or delete the name (compare-and-swap), list the names and
each one's history."""

from __future__ import annotations

from dataclasses import dataclass

from mlvc import clock
from mlvc.errors import MlvcError
from mlvc.ids import ObjectId
from mlvc.lineage.resolve import resolve_run
from mlvc.repo import Repo
from mlvc.store.refs import CorruptTagError, TagMove, Tags


@dataclass(frozen=True)
class TagsResult:
    """Every tag and the run it names; `damaged`: the tags that name no run the store
    holds, and what is wrong with each."""

    tags: dict[str, ObjectId]
    damaged: dict[str, str]


def tags(repo: Repo) -> TagsResult:
    found = Tags(repo.dir)
    named: dict[str, ObjectId] = {}
    damaged: dict[str, str] = {}
    for name in found.names():
        try:
            oid = found.get(name)
        except CorruptTagError as exc:
            damaged[name] = exc.problem
            continue
        if oid is None:
            continue  # deleted since it was listed
        if repo.index.history.has_run(oid):
            named[name] = oid
        else:
            damaged[name] = f"names run {oid.hex()}, which the index does not hold"
    return TagsResult(named, damaged)


def history(repo: Repo, name: str) -> list[TagMove]:
    """Every move of the tag, oldest first."""
    return Tags(repo.dir).history(name)


def tag(
    repo: Repo, name: str, run_ref: str | None, user: str, message: str = "", delete: bool = False
) -> TagMove:
    """Point `name` at `run_ref` (default `latest`), or delete it; the move is logged with
    `user`. Fails if another command moved the tag meanwhile (compare-and-swap)."""
    found = Tags(repo.dir)
    try:
        current = found.get(name)
    except CorruptTagError:
        if not delete:
            raise
        return found.drop_damaged(name, user, clock.now(), message)
    if delete:
        if current is None:
            raise MlvcError(f"tag {name} does not exist", hint="'mlvc tag' lists tags")
        return found.move(name, None, current, user, clock.now(), message)
    target = resolve_run(repo, run_ref or "latest")
    return found.move(name, target, current, user, clock.now(), message)
