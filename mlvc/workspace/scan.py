"""Walking workspace paths with the ignore rules, collecting what stat says of each file."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple

from mlvc.errors import UnreadableFileError
from mlvc.paths import UNSAFE_NAME
from mlvc.workspace.ignore import Ignore

# The workspace's own metadata: not reported as skipped at the root of the workspace.
OWN_DIRS = (".git", ".mlvc")
_S_IFLNK = stat.S_IFLNK
_S_IFREG = stat.S_IFREG
_S_IFMT = 0o170000


class FileStat(NamedTuple):
    """A NamedTuple, not a dataclass: status builds one per file, 20k at a time."""

    rel: str
    kind: str  # "file" or "symlink"
    size: int
    mtime_ns: int
    ino: int
    executable: bool
    ctime_ns: int  # changes on every write and on utime(): catches mtime reset by hand


def stat_of(rel: str, st: os.stat_result) -> FileStat:
    link = stat.S_ISLNK(st.st_mode)
    kind = "symlink" if link else "file"
    executable = not link and bool(st.st_mode & 0o111)
    return FileStat(rel, kind, st.st_size, st.st_mtime_ns, st.st_ino, executable, st.st_ctime_ns)


def walk(root: Path, rel: str, ignore: Ignore, skipped: list[str] | None = None) -> list[FileStat]:
    """Every regular file and symlink under the directory `rel` (unordered).

    Sockets, fifos and devices are skipped, and so are names mlvc cannot store safely:
    those are appended to `skipped` (a directory with a `/`) unless `.mlvcignore` ignores
    them. The loop is kept tight on purpose: it runs once per file on every `mlvc status`.
    """
    found: list[FileStat] = []
    append = found.append
    skips_file = ignore.skips_file
    unsafe = UNSAFE_NAME.search
    stack = [rel]
    while stack:
        current = stack.pop()
        prefix = f"{current}/" if current else ""
        try:
            entries = os.scandir(root / current if current else root)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except PermissionError:
            raise unreadable_directory(current) from None
        with entries:
            for entry in entries:
                name = entry.name
                if unsafe(name):
                    if skipped is not None:
                        unsafe_entry(entry, prefix, ignore, skipped)
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if not ignore.skips_dir(prefix + name, name, Path(entry.path)):
                        stack.append(prefix + name)
                    continue
                if skips_file(prefix + name, name):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                fmt = st.st_mode & _S_IFMT
                if fmt == _S_IFREG:
                    kind, executable = "file", bool(st.st_mode & 0o111)
                elif fmt == _S_IFLNK:
                    kind, executable = "symlink", False
                else:
                    continue
                rel_name = prefix + name
                append(
                    FileStat(
                        rel_name,
                        kind,
                        st.st_size,
                        st.st_mtime_ns,
                        st.st_ino,
                        executable,
                        st.st_ctime_ns,
                    )
                )
    return found


def unreadable_directory(rel: str) -> UnreadableFileError:
    return UnreadableFileError(f"cannot read directory {rel or '.'}: permission denied")


def unsafe_entry(entry: os.DirEntry[str], prefix: str, ignore: Ignore, skipped: list[str]) -> None:
    """Note a name the walk cannot store in `skipped`, unless it is the workspace's own
    `.git` or `.mlvc` or the user's ignore rules leave it out anyway."""
    name = entry.name
    if not prefix and name in OWN_DIRS:
        return
    try:
        is_dir = entry.is_dir(follow_symlinks=False)
    except OSError:
        is_dir = False
    rel = prefix + name + ("/" if is_dir else "")
    if not ignore.user_skips(rel):
        skipped.append(rel)
