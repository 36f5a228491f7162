"""`mlvc init`: create a repository in a directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlvc.repo import Repo


@dataclass(frozen=True)
class InitResult:
    root: Path
    store: Path
    git: bool


def init(path: Path) -> InitResult:
    repo = Repo.init(path)
    git = any((p / ".git").exists() for p in (repo.root, *repo.root.parents))
    return InitResult(repo.root, repo.dir, git)
