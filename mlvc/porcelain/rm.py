"""`mlvc rm PATH...`: stop tracking paths and, unless `cached`, delete their files.

Untracking changes only the workspace state `status` compares against (the `tracked`
rows): history keeps every version runs and snapshots recorded, so `PATH@RUN`, `log
PATH` and `checkout` still find them. Nothing is lost: a file whose content the store
lacks (edited since it was recorded) is not deleted unless `force`. Order: untrack (one
index transaction), then delete; a crash in between leaves an untracked file, never a
tracked path whose content is gone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlvc.errors import MlvcError
from mlvc.repo import Repo
from mlvc.workspace.lock import workspace_lock


class NotTrackedError(MlvcError):
    pass


class UnsavedContentError(MlvcError):
    pass


@dataclass(frozen=True)
class RmResult:
    untracked: tuple[str, ...]  # the tracked files no longer tracked
    deleted: tuple[str, ...]  # those removed from the workspace (none with `cached`)


def rm(
    repo: Repo, paths: list[Path], cwd: Path, cached: bool = False, force: bool = False
) -> RmResult:
    targets = [_target(repo, path, cwd) for path in paths]
    with workspace_lock(repo.dir):
        index = repo.index
        files: dict[str, bytes] = {}
        for rel, text in targets:
            found = index.tracked_files(rel)
            if not found:
                raise NotTrackedError(
                    f"{text} is not tracked", hint="'mlvc status' compares the tracked paths"
                )
            files.update(found)
        doomed = [] if cached else _present(repo, sorted(files))
        if doomed and not force:
            _refuse_unsaved(repo, doomed, files)
        with index.transaction():
            for rel, _ in targets:
                index.replace_tracked(rel, [])
        for rel in doomed:
            os.unlink(repo.abspath(rel))
        _prune_dirs(repo, [rel for rel, _ in targets], doomed)
    return RmResult(tuple(sorted(files)), tuple(doomed))


def _target(repo: Repo, path: Path, cwd: Path) -> tuple[str, str]:
    rel = repo.relpath(path, cwd)
    if not rel:
        raise MlvcError(
            "'mlvc rm' takes paths inside the workspace, not the workspace itself",
            hint="name the files or directories to stop tracking",
        )
    return rel, str(path)


def _present(repo: Repo, paths: list[str]) -> list[str]:
    """The tracked files still in the workspace (no directory above them a symlink)."""
    from mlvc.workspace.patch import refuse_symlinks

    refuse_symlinks(repo.root, paths, "mlvc rm")
    return [rel for rel in paths if os.path.lexists(repo.abspath(rel))]


def _refuse_unsaved(repo: Repo, doomed: list[str], tracked: dict[str, bytes]) -> None:
    """Refuse to delete a file whose content is neither the tracked one nor stored."""
    from mlvc.workspace.statcache import content_id

    for rel in doomed:
        path = repo.abspath(rel)
        oid, _ = content_id(path, symlink=path.is_symlink())
        if oid != tracked[rel] and repo.index.missing([oid]):
            raise UnsavedContentError(
                f"{rel} has changes the store does not hold",
                hint=f"'mlvc add {rel}' records them first; 'mlvc rm --cached {rel}' keeps"
                " the file; 'mlvc rm --force' deletes it anyway",
            )


def _prune_dirs(repo: Repo, roots: list[str], deleted: list[str]) -> None:
    """Remove the directories the deletions left empty, up to each named path."""
    for rel in sorted(deleted, key=len, reverse=True):
        parent = rel.rpartition("/")[0]
        while parent and any(parent == r or parent.startswith(r + "/") for r in roots):
            try:
                os.rmdir(repo.abspath(parent))
            except OSError:  # not empty (or already gone): leave it and what is above
                break
            parent = parent.rpartition("/")[0]
