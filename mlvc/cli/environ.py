"""What the CLI reads from the process on the library's behalf: the repository around the
current directory, and who is running."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mlvc.repo import Repo


def repo() -> Repo:
    """The repository at or above the current directory."""
    from pathlib import Path

    from mlvc.repo import Repo

    return Repo.discover(Path.cwd())


def with_repo(work: Callable[[Repo], T]) -> T:
    """`work` on the repository at or above the current directory, closed afterwards."""
    opened = repo()
    try:
        return work(opened)
    finally:
        opened.close()


def owner() -> dict[str, str]:
    """Who runs the command: recorded on every snapshot."""
    import os

    from mlvc.capture.owner import local_owner

    return local_owner(os.environ)
