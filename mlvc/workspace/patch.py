"""A run's recorded patch as untrusted input: the paths it writes, checked before it is
applied (with git's own safety checks) and after, and the symlink rule for what mlvc
writes next.

A patch comes with the run, possibly from a remote: it may name `../x`, `.git/hooks/...`
or `.mlvc/...`, or make `data` a symlink to anywhere so that a later write to
`data/x.csv` lands outside the work tree. Every path it names must pass the rule of
`mlvc.paths.check_relpath` (from the git top level); no path it writes, and no path mlvc
writes afterwards, may lie beneath a symlink it creates.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlvc.errors import MlvcError, UnsafePathError
from mlvc.git import run_git
from mlvc.paths import check_relpath

_HINT = "the run was damaged or crafted; mlvc refuses to use its code"


class CodeRestoreError(MlvcError):
    pass


class UnsafePatchError(CodeRestoreError):
    pass


@dataclass(frozen=True)
class Patch:
    label: str  # "run 3f2a9c1e0b4d: the recorded patch 9a8b7c6d5e4f", for errors
    data: bytes
    paths: tuple[str, ...] = ()  # every path it writes, renames or deletes (git-top relative)
    symlinks: tuple[str, ...] = ()  # the paths it makes symlinks


def check_patch(patch: Patch, top: Path, env: Mapping[str, str], guarded: Iterable[str]) -> Patch:
    """The patch with its paths listed, once every one of them is safe and no path it
    writes nor any `guarded` path lies beneath a symlink it creates. A `guarded` path
    ending in "/" is a directory mlvc fills: no symlink may be made inside it either.
    Reads nothing but the patch: `git apply --numstat`/`--summary` list, not apply."""
    paths = _paths(_apply(["--numstat", "-z"], top, patch, env))
    for path in paths:
        try:
            check_relpath(path)
        except UnsafePathError as exc:
            raise UnsafePatchError(f"{patch.label} writes {path!r}: {exc.message}", _HINT) from None
    summary = _apply(["--summary"], top, patch, env)
    # --summary prints names unquoted, one per line: matching the exact names numstat
    # gave (NUL-separated) cannot miss one; a crafted name can only cause a refusal.
    links = tuple(p for p in paths if b" 120000 " + os.fsencode(p) + b"\n" in summary)
    for path in (*paths, *guarded):
        for link in links:
            if path.startswith(link + "/") or (path.endswith("/") and link.startswith(path)):
                raise UnsafePatchError(
                    f"{patch.label} makes {link!r} a symlink, and {path.rstrip('/')!r} goes"
                    " through it or holds it",
                    _HINT,
                )
    return Patch(patch.label, patch.data, tuple(paths), links)


def apply_patch(top: Path, patch: Patch, env: Mapping[str, str]) -> None:
    """Apply a checked patch at the git top `top` with git's default safety (no
    --unsafe-paths: nothing outside the work tree, nothing beyond a symlink, nothing in
    .git; all or nothing), then check again that no written path is beneath a symlink."""
    hint = "move aside the untracked files it names, then run this again"
    _apply(["--binary", "--whitespace=nowarn"], top, patch, env, "does not apply", hint)
    refuse_symlinks(top, patch.paths, patch.label)


def refuse_symlinks(root: Path, paths: Iterable[str], what: str, hint: str = _HINT) -> None:
    """No directory above any of `paths` (relative to `root`) is a symlink: a write or a
    delete there would land wherever it points. Absent directories pass (they are
    created as real ones); a path ending in "/" has all its components checked."""
    checked: set[str] = set()
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            above = "/".join(parts[:depth])
            if above in checked:
                continue
            checked.add(above)
            try:
                mode = os.lstat(root / above).st_mode
            except (FileNotFoundError, NotADirectoryError):
                break
            if stat.S_ISLNK(mode):
                raise UnsafePathError(
                    f"{what}: {path.rstrip('/')!r} goes through the symlink {above!r}", hint
                )


def _apply(
    args: list[str],
    top: Path,
    patch: Patch,
    env: Mapping[str, str],
    problem: str = "is not a patch git can read",
    hint: str = _HINT,
) -> bytes:
    done = run_git(["apply", *args, "-"], top, env, stdin=patch.data)
    if done is None:
        raise CodeRestoreError("git could not run", hint="is git installed?")
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()
        raise CodeRestoreError(f"{patch.label} {problem}: {detail}", hint=hint)
    return done.stdout


def _paths(numstat: bytes) -> list[str]:
    """Paths from `git apply --numstat -z`: `added TAB deleted TAB path NUL`, or for a
    rename or copy `added TAB deleted TAB NUL old NUL new NUL`."""
    fields = iter(numstat.split(b"\0"))
    found = []
    for record in fields:
        if not record:
            continue
        path = record.split(b"\t", 2)[-1]
        if path:
            found.append(path)
        else:
            found += [next(fields, b""), next(fields, b"")]
    return [os.fsdecode(p) for p in found]
