"""`mlvc show RUN`: one run's whole record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlvc.ids import ObjectId
from mlvc.lineage.resolve import load_run, resolve_run
from mlvc.repo import Repo


@dataclass(frozen=True)
class ShowResult:
    id: ObjectId
    run: dict[str, Any]


def show(repo: Repo, ref: str) -> ShowResult:
    """RUN is an id, a unique prefix, a tag, `latest`, `latest~N` or `latest:PATH`."""
    oid = resolve_run(repo, ref)
    return ShowResult(oid, load_run(repo, oid).to_value())
