"""Before/after stat scans of the workspace: what a command created, modified or deleted,
whatever wrote it (the tracer only sees Python processes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlvc.workspace.ignore import Ignore
from mlvc.workspace.scan import FileStat, walk


def scan(root: Path, ignore: Ignore, skipped: list[str] | None = None) -> dict[str, FileStat]:
    """The workspace's files; names no tree can hold go to `skipped` (see scan.walk)."""
    return {st.rel: st for st in walk(root, "", ignore, skipped)}


@dataclass(frozen=True)
class Changes:
    created: set[str]
    modified: set[str]
    deleted: set[str]


def compare(before: dict[str, FileStat], after: dict[str, FileStat]) -> Changes:
    created = {p for p in after if p not in before}
    deleted = {p for p in before if p not in after}
    modified = set()
    for path, now in after.items():
        was = before.get(path)
        if was is not None and (
            was.size != now.size
            or was.mtime_ns != now.mtime_ns
            or was.ctime_ns != now.ctime_ns
            or was.ino != now.ino
            or was.kind != now.kind
        ):
            modified.add(path)
    return Changes(created, modified, deleted)


def owned_directories(paths: set[str], after: dict[str, FileStat]) -> set[str]:
    """The topmost directories (below the root) whose every file is in `paths`: a run
    that rewrote a whole directory produced that directory, recorded as one tree."""
    counts: dict[str, int] = {}
    for path in after:
        for parent in _parents(path):
            counts[parent] = counts.get(parent, 0) + 1
    written: dict[str, int] = {}
    for path in paths:
        if path in after:
            for parent in _parents(path):
                written[parent] = written.get(parent, 0) + 1
    owned = {d for d, n in written.items() if counts.get(d) == n}
    return {d for d in owned if not any(p in owned for p in _parents(d))}


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
