"""`mlvc tag`: name a run, move or delete the name (compare-and-swap), list the names and
each one's history."""

from __future__ import annotations

from mlvc import clock
from mlvc.errors import MlvcError
from mlvc.ids import ObjectId
from mlvc.lineage.resolve import resolve_run
from mlvc.repo import Repo
from mlvc.store.refs import TagMove, Tags


def tags(repo: Repo) -> dict[str, ObjectId | None]:
    """Every tag and the run it names."""
    found = Tags(repo.dir)
    return {name: found.get(name) for name in found.names()}


def history(repo: Repo, name: str) -> list[TagMove]:
    """Every move of the tag, oldest first."""
    return Tags(repo.dir).history(name)


def tag(
    repo: Repo, name: str, run_ref: str | None, user: str, message: str = "", delete: bool = False
) -> TagMove:
    """Point `name` at `run_ref` (default `latest`), or delete it; the move is logged with
    `user`. Fails if another command moved the tag meanwhile (compare-and-swap)."""
    found = Tags(repo.dir)
    current = found.get(name)
    if delete:
        if current is None:
            raise MlvcError(f"tag {name} does not exist", hint="'mlvc tag' lists tags")
        return found.move(name, None, current, user, clock.now(), message)
    target = resolve_run(repo, run_ref or "latest")
    return found.move(name, target, current, user, clock.now(), message)
