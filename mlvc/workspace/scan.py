"""Walking workspace paths with the ignore rules, collecting what stat says of each file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlvc.errors import UnsafePathError
from mlvc.paths import check_name
from mlvc.workspace.ignore import Ignore


@dataclass(frozen=True, slots=True)
class FileStat:
    rel: str
    kind: str  # "file" or "symlink"
    size: int
    mtime_ns: int
    ino: int
    executable: bool


def stat_of(rel: str, st: os.stat_result) -> FileStat:
    kind = "symlink" if stat.S_ISLNK(st.st_mode) else "file"
    return FileStat(rel, kind, st.st_size, st.st_mtime_ns, st.st_ino, bool(st.st_mode & 0o111))


def walk(root: Path, rel: str, ignore: Ignore) -> Iterator[FileStat]:
    """Every regular file and symlink under the directory `rel`, in sorted path order.

    Names mlvc cannot store safely (control characters, reserved names) are skipped
    rather than aborting a whole directory; sockets, fifos and devices are skipped.
    """
    directory = root / rel if rel else root
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        name = entry.name
        child = f"{rel}/{name}" if rel else name
        try:
            check_name(name)
        except UnsafePathError:
            continue
        if entry.is_dir(follow_symlinks=False):
            if not ignore.skips_dir(child, name, Path(entry.path)):
                yield from walk(root, child, ignore)
            continue
        if ignore.skips_file(child, name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
            yield stat_of(child, st)
