"""Restoring a run's code with git: the recorded commit (detached, or as a separate
worktree) with the recorded patch of uncommitted sources applied on top."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlvc.capture.gitinfo import run_git
from mlvc.errors import MlvcError
from mlvc.store.objectstore import ObjectStore


class CodeRestoreError(MlvcError):
    pass


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
    done = run_git(["rev-parse", "--show-toplevel"], workspace, env)
    if done is None or done.returncode != 0:
        raise CodeRestoreError(
            f"{workspace} is not in a git work tree", hint="run this inside the git repository"
        )
    return Path(os.fsdecode(done.stdout.rstrip(b"\n")))


def checkout_code(
    workspace: Path, code: Mapping[str, Any], store: ObjectStore, env: Mapping[str, str]
) -> dict[str, Any]:
    """Check out the recorded commit (detached) and apply the recorded patch. Refuses when
    tracked files have uncommitted changes: git would have to overwrite them."""
    commit = recorded_commit(code)
    top = toplevel(workspace, env)
    dirty = _git(["status", "--porcelain", "--untracked-files=no"], top, env).stdout.strip()
    if dirty:
        raise CodeRestoreError(
            "the git work tree has uncommitted changes; --code needs a clean tree",
            hint="commit or stash them ('git stash'), then run this again",
        )
    _have_commit(commit, top, env)
    _git(["checkout", "--quiet", "--detach", commit], top, env)
    applied = apply_patch(top, code, store, env)
    return {"commit": commit, "patch": applied}


def add_worktree(
    workspace: Path, code: Mapping[str, Any], store: ObjectStore, env: Mapping[str, str], dest: Path
) -> Path:
    """A new git worktree at `dest` on the recorded commit with the patch applied; returns
    the workspace inside it (the run's workspace may be a subdirectory of the git top)."""
    commit = recorded_commit(code)
    top = toplevel(workspace, env)
    _have_commit(commit, top, env)
    _git(["worktree", "add", "--quiet", "--detach", str(dest), commit], top, env)
    apply_patch(dest, code, store, env)
    prefix = code.get("toplevel")
    return dest / prefix if isinstance(prefix, str) and prefix not in ("", ".") else dest


def remove_worktree(workspace: Path, dest: Path, env: Mapping[str, str]) -> None:
    top = toplevel(workspace, env)
    run_git(["worktree", "remove", "--force", str(dest)], top, env)
    run_git(["worktree", "prune"], top, env)


def apply_patch(
    top: Path, code: Mapping[str, Any], store: ObjectStore, env: Mapping[str, str]
) -> bool:
    patch_id = code.get("patch")
    if not isinstance(patch_id, bytes):
        return False
    patch = b"".join(store.iter_file(patch_id))
    done = run_git(["apply", "--binary", "--whitespace=nowarn", "-"], top, env, stdin=patch)
    if done is None or done.returncode != 0:
        detail = "" if done is None else done.stderr.decode("utf-8", "replace").strip()
        raise CodeRestoreError(
            f"the recorded patch {patch_id.hex()[:12]} does not apply: {detail}",
            hint="move aside the untracked files it names, then run this again",
        )
    return True


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
