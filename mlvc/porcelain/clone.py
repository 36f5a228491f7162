"""`mlvc clone URL [DIR]`: start a store in an existing code checkout from a remote.

The code comes from git (the checkout is already there); `clone` makes `DIR/.mlvc`,
names the remote `origin` (the default) and fetches its runs and tags. Data stays on the
remote until a `checkout` or `pull` needs it. If any step fails, the new `.mlvc` is
removed again: a clone either completes or leaves the directory as it was.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlvc.porcelain.fetch import FetchResult, fetch
from mlvc.porcelain.remote import remote_add
from mlvc.repo import Repo

ORIGIN = "origin"


@dataclass(frozen=True)
class CloneResult:
    root: Path
    fetched: FetchResult


def clone(
    url: str,
    directory: Path,
    options: list[str],
    cwd: Path,
    progress: Callable[[int], None] | None = None,
) -> CloneResult:
    repo = created = Repo.init(directory)
    try:
        remote_add(created, ORIGIN, url, options, True, cwd)
        created.close()
        repo = Repo.discover(created.root)  # the config now names the remote
        fetched = fetch(repo, ORIGIN, progress)
    except BaseException:
        repo.close()
        shutil.rmtree(repo.dir, ignore_errors=True)
        raise
    repo.close()
    return CloneResult(repo.root, fetched)
