"""`mlvc show RUN`: one run's whole record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlvc.errors import MlvcError
from mlvc.ids import Kind, ObjectId
from mlvc.objects import Run
from mlvc.repo import Repo


@dataclass(frozen=True)
class ShowResult:
    id: ObjectId
    run: dict[str, Any]


def show(repo: Repo, ref: str) -> ShowResult:
    oid = repo.store.resolve(ref)
    kind, data = repo.store.get(oid)
    if kind is not Kind.RUN:
        raise MlvcError(
            f"{oid.hex()[:12]} is a {kind.label}, not a run", hint="mlvc show takes a run id"
        )
    return ShowResult(oid, Run.decode(data, f"run {oid.hex()[:12]}").to_value())
