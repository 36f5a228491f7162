"""Restoring a run's code with git: the recorded commit (detached, or as a separate
worktree) with the recorded patch of uncommitted sources applied on top."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlvc.git import run_git
from mlvc.ids import short
from mlvc.objects import Run
from mlvc.store.objectstore import ObjectStore
from mlvc.workspace.patch import (
    CodeRestoreError,
    Patch,
    apply_patch,
    check_patch,
)


def recorded_commit(code: Mapping[str, Any]) -> str:
    """The commit a run's code section names, or a clear error when it names none."""
    if code.get("git") is not True:
        raise CodeRestoreError(
            "the run recorded no git commit (it ran outside a git repository)",
            hint="restore the code by hand; 'mlvc show RUN --json' lists its scripts",
        )
    commit = code.get("commit")
    if not isinstance(commit, str):
        raise CodeRestoreError("the run was recorded before the repository's first commit")
    return commit


def toplevel(workspace: Path, env: Mapping[str, str]) -> Path:
    return locate(workspace, env)[0]


def locate(workspace: Path, env: Mapping[str, str]) -> tuple[Path, str]:
    """The git top level holding `workspace`, and the workspace relative to it ("" when
    equal). Asked of git, never read from a run: a run's `code.toplevel` is not trusted."""
    done = run_git(["rev-parse", "--show-toplevel", "--show-prefix"], workspace, env)
    if done is None or done.returncode != 0:
        raise CodeRestoreError(
            f"{workspace} is not in a git work tree", hint="run this inside the git repository"
        )
    top, _, prefix = done.stdout.partition(b"\n")
    return Path(os.fsdecode(top)), os.fsdecode(prefix.rstrip(b"\n")).rstrip("/")


def checkout_code(
    workspace: Path,
    code: Mapping[str, Any],
    store: ObjectStore,
    env: Mapping[str, str],
    what: str = "the run",
    guarded: Sequence[str] = (),
) -> dict[str, Any]:
    """Check out the recorded commit (detached) and apply the recorded patch. Refuses when
    tracked files have uncommitted changes: git would have to overwrite them. `guarded`:
    the workspace paths mlvc writes next (a patch may not turn a directory above one of
    them into a symlink); `what` names the run in errors."""
    commit = recorded_commit(code)
    top, prefix = locate(workspace, env)
    dirty = _git(["status", "--porcelain", "--untracked-files=no"], top, env).stdout.strip()
    if dirty:
        raise CodeRestoreError(
            "the git work tree has uncommitted changes; --code needs a clean tree",
            hint="commit or stash them ('git stash'), then run this again",
        )
    _have_commit(commit, top, env)
    patch = _load_patch(code, store, what, top, env, _below(prefix, guarded))
    _git(["checkout", "--quiet", "--detach", commit], top, env)
    if patch is not None:
        apply_patch(top, patch, env)
    return {"commit": commit, "patch": patch is not None}


def add_worktree(
    workspace: Path,
    code: Mapping[str, Any],
    store: ObjectStore,
    env: Mapping[str, str],
    dest: Path,
    what: str = "the run",
    guarded: Sequence[str] = (),
) -> Path:
    """A new git worktree at `dest` on the recorded commit with the patch applied; returns
    the workspace inside it: at the place this workspace has in its own git top (the
    run's `code.toplevel` is not trusted). `guarded` as for checkout_code."""
    commit = recorded_commit(code)
    top, prefix = locate(workspace, env)
    _have_commit(commit, top, env)
    patch = _load_patch(code, store, what, top, env, _below(prefix, guarded))
    _git(["worktree", "add", "--quiet", "--detach", str(dest), commit], top, env)
    if patch is not None:
        apply_patch(dest, patch, env)
    return dest / prefix if prefix else dest


def remove_worktree(workspace: Path, dest: Path, env: Mapping[str, str]) -> None:
    top = toplevel(workspace, env)
    run_git(["worktree", "remove", "--force", str(dest)], top, env)
    run_git(["worktree", "prune"], top, env)


def _have_commit(commit: str, top: Path, env: Mapping[str, str]) -> None:
    done = run_git(["cat-file", "-e", f"{commit}^{{commit}}"], top, env)
    if done is None or done.returncode != 0:
        raise CodeRestoreError(
            f"commit {commit[:12]} is not in this git repository",
            hint="fetch it ('git fetch --all'), then run this again",
        )


def _git(args: list[str], top: Path, env: Mapping[str, str]) -> Any:
    done = run_git(args, top, env)
    if done is None:
        raise CodeRestoreError("git could not run", hint="is git installed?")
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()
        raise CodeRestoreError(f"git {args[0]} failed: {detail}")
    return done


def guarded_paths(run: Run) -> list[str]:
    """The workspace paths mlvc writes for `run` after its code is in place: its inputs,
    outputs, removed paths and scripts, and its cwd; directories end in "/"."""
    records = [*run.inputs.items(), *run.outputs.items()]
    paths = [p + "/" if r.kind == "tree" else p for p, r in records]
    scripts = run.code.get("scripts")
    paths += [*run.removed, *(scripts if isinstance(scripts, dict) else {})]
    return paths if run.cwd == "." else [*paths, run.cwd + "/"]


def _below(prefix: str, paths: Iterable[str]) -> list[str]:
    """Workspace paths as paths from the git top."""
    return [f"{prefix}/{p}" if prefix else p for p in paths]


def _load_patch(
    code: Mapping[str, Any],
    store: ObjectStore,
    what: str,
    top: Path,
    env: Mapping[str, str],
    guarded: list[str],
) -> Patch | None:
    """The recorded patch, checked before anything is checked out or written."""
    patch_id = code.get("patch")
    if not isinstance(patch_id, bytes):
        return None
    data = b"".join(store.iter_file(patch_id))
    return check_patch(
        Patch(f"{what}: the recorded patch {short(patch_id)}", data), top, env, guarded
    )
