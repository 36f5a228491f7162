"""What the CLI reads from the process on the library's behalf: the repository around the
current directory, and who is running."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mlvc.repo import Repo


def repo() -> Repo:
    """The repository at or above the current directory."""
    from pathlib import Path

    from mlvc.repo import Repo

    return Repo.discover(Path.cwd())


class Closable(Protocol):
    def close(self) -> None: ...


def with_repo(work: Callable[[Repo], T], progress: Closable | None = None) -> T:
    """`work` on the repository at or above the current directory; the repository, and
    the progress display `work` reports to, are closed afterwards."""
    opened = repo()
    try:
        return work(opened)
    finally:
        if progress is not None:
            progress.close()
        opened.close()


def owner() -> dict[str, str]:
    """Who runs the command: recorded on every snapshot."""
    import os

    from mlvc.capture.owner import local_owner

    return local_owner(os.environ)
