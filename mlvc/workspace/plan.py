"""Planning a checkout: the files a run's state holds, compared with the workspace file by
file, into what to create, replace, re-mode, delete and leave alone. Reads only: nothing
here writes to the workspace or the store.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mlvc.errors import MlvcError, PathNotFoundError
from mlvc.ids import short
from mlvc.objects import PathRecord, Run, Tree
from mlvc.repo import Repo
from mlvc.store.statrows import StatRow
from mlvc.workspace.dirs import link_error
from mlvc.workspace.ignore import Ignore
from mlvc.workspace.records import RecordedFile
from mlvc.workspace.scan import FileStat, stat_of, walk
from mlvc.workspace.statcache import hashed_row, is_clean

Op = Literal["create", "update", "mode", "delete"]


class InTheWayError(MlvcError):
    pass


@dataclass(frozen=True)
class FileChange:
    path: str
    op: Op
    size: int


def recorded_state(
    repo: Repo, run: Run, inputs: bool, paths: tuple[str, ...] = ()
) -> tuple[dict[str, RecordedFile], set[str], list[str]]:
    """The files a run's state holds: path -> RecordedFile; the recorded directories; the paths
    the run deleted. Outputs win over inputs at the same path (the run left them so)."""
    records: dict[str, PathRecord] = dict(run.inputs)
    if not inputs:
        records = {p: r for p, r in records.items() if p not in run.outputs}
        records.update(run.outputs)
    removed = [] if inputs else list(run.removed)
    wants: dict[str, RecordedFile] = {}
    dirs: set[str] = set()
    for root in sorted(records, key=lambda p: (p in run.outputs, p)):
        if paths and not any(_chosen(root, p) or p.startswith(root + "/") for p in paths):
            continue  # neither chosen nor holding a chosen path: not read at all
        rec = records[root]
        if rec.kind == "tree":
            dirs.add(root)
            files = _tree_files(repo, rec.id, root)
            if paths and not any(_chosen(root, p) for p in paths):  # a part of it is chosen
                files = [f for f in files if any(_chosen(f.path, p) for p in paths)]
            for want in files:
                wants[want.path] = want
        else:
            wants[root] = RecordedFile(root, rec.kind, rec.id, rec.size, rec.executable, root)
    if paths:
        dirs, removed = _only(paths, wants, dirs, removed)
    return wants, dirs, removed


def _chosen(path: str, chosen: str) -> bool:
    return path == chosen or path.startswith(chosen + "/")


def _only(
    paths: tuple[str, ...], wants: dict[str, RecordedFile], dirs: set[str], removed: list[str]
) -> tuple[set[str], list[str]]:
    """The recorded directories and deletions among `paths` (`wants` holds only the files
    they choose); an error for a path the run has nothing of."""
    removed = [r for r in removed if any(_chosen(r, p) for p in paths)]
    dirs = {d for d in dirs if any(_chosen(d, p) for p in paths)}
    for p in paths:
        if p not in dirs and not any(_chosen(w, p) for w in (*wants, *removed)):
            raise PathNotFoundError(f"the run neither read nor wrote '{p}'")
    return dirs, removed


def _tree_files(repo: Repo, tree_id: bytes, root: str) -> list[RecordedFile]:
    found: list[RecordedFile] = []
    stack = [(tree_id, root)]
    while stack:
        oid, base = stack.pop()
        _, data = repo.store.get(oid)
        entries = Tree.decode(data, f"tree {short(oid)}").entries
        stack += [(e.id, f"{base}/{e.name}") for e in entries if e.kind == "tree"]
        found += [
            RecordedFile(f"{base}/{e.name}", e.kind, e.id, e.size, e.executable, root)
            for e in entries
            if e.kind != "tree"
        ]
    return found


@dataclass
class Plan:
    writes: list[RecordedFile] = field(default_factory=list)
    modes: list[RecordedFile] = field(default_factory=list)
    unchanged: list[tuple[RecordedFile, FileStat]] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)  # deleted before anything is written
    doomed: dict[str, FileStat] = field(default_factory=dict)  # files overwritten or deleted
    ids: dict[str, bytes | None] = field(default_factory=dict)  # current ids we know
    hashed: list[tuple[str, StatRow]] = field(default_factory=list)
    changes: list[FileChange] = field(default_factory=list)


class Planner:
    """Compares the wanted state with the workspace, file by file."""

    def __init__(self, repo: Repo, ignore: Ignore, force: bool, follow: bool) -> None:
        self.root = repo.root
        self.follow = follow
        self._root = str(repo.root)
        self.ignore = ignore
        self.force = force
        self.index = repo.index
        self._stat_cache: dict[str, StatRow] | None = None
        self.plan = Plan()
        self._kinds: dict[str, str | None] = {"": "dir"}
        self._sound: set[str] = {""}  # directories known to be real all the way down
        self._unsound: set[str] = set()  # directories known not to be (absent, a file...)

    def kind(self, path: str) -> str | None:
        """ "dir", "link" (a symlink to a directory), "other" or None (absent), as the
        workspace stands before we change it. Callers look at every parent first
        (`parents_ok`), so the path's own lstat never goes through a symlink."""
        if path not in self._kinds:
            full = os.path.join(self._root, path)
            try:
                mode = os.lstat(full).st_mode
            except (FileNotFoundError, NotADirectoryError):
                self._kinds[path] = None
            else:
                if stat.S_ISDIR(mode):
                    self._kinds[path] = "dir"
                elif stat.S_ISLNK(mode) and os.path.isdir(full):
                    self._kinds[path] = "link"
                else:
                    self._kinds[path] = "other"
        return self._kinds[path]

    def parents_ok(self, path: str, clear: bool = False) -> bool:
        """Whether every directory above `path` is there as a directory. A symlink to a
        directory is refused (naming it) unless the user opted in to following it; a
        file or dangling link where a directory must go is planned for removal if
        `clear`."""
        top = path.rpartition("/")[0]
        if top in self._sound:
            return True
        if top in self._unsound:  # kinds never change in a plan, removals only grow
            return False
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            kind = self.kind(parent)
            if kind == "link" and not self.follow:
                raise link_error(parent, os.readlink(os.path.join(self._root, parent)))
            if kind is None or parent in self.plan.removals:
                self._unsound.add(top)
                return False
            if kind == "other":
                if clear:
                    self.remove(parent)
                    self._unsound.add(top)  # (without `clear`, the next caller may clear)
                return False
        if not any(top == r or top.startswith(r + "/") for r in self.plan.removals):
            self._sound.add(top)
        return True

    def want(self, want: RecordedFile) -> None:
        absent = not self.parents_ok(want.path, clear=True)
        kind = None if absent else self.kind(want.path)
        removals = self.plan.removals
        if kind is None or (removals and any(want.path.startswith(r + "/") for r in removals)):
            self.plan.writes.append(want)
            self.plan.changes.append(FileChange(want.path, "create", want.size))
            return
        if kind == "dir":
            self.remove(want.path)
            self.plan.writes.append(want)
            self.plan.changes.append(FileChange(want.path, "update", want.size))
            return
        current = stat_of(want.path, os.lstat(os.path.join(self._root, want.path)))
        if self.current_id(current) != want.id or current.kind != want.kind:
            self.plan.doomed[want.path] = current
            self.plan.writes.append(want)
            self.plan.changes.append(FileChange(want.path, "update", want.size))
        elif want.kind == "file" and current.executable != want.executable:
            self.plan.modes.append(want)
            self.plan.changes.append(FileChange(want.path, "mode", want.size))
        else:
            self.plan.unchanged.append((want, current))

    def remove(self, path: str) -> None:
        """Plan to delete a file, symlink or directory, and every file in it."""
        if path in self.plan.removals or not self.parents_ok(path) or self.kind(path) is None:
            return
        self.plan.removals.append(path)
        self.plan.changes.append(FileChange(path, "delete", 0))
        if self.kind(path) != "dir":
            self.plan.doomed[path] = stat_of(path, os.lstat(self.root / path))
            return
        files = walk(self.root, path, self.ignore)
        if not self.force and _count_all(self.root / path) != len(files):
            raise InTheWayError(
                f"directory {path} is in the way and holds files mlvc does not track"
                " (ignored, or not regular files)",
                hint="move it aside, or run again with --force to delete it",
            )
        for st in files:
            self.plan.doomed[st.rel] = st

    def current_id(self, st: FileStat) -> bytes | None:
        if st.rel in self.plan.ids:
            return self.plan.ids[st.rel]
        if self._stat_cache is None:  # loaded only when a file is there to compare
            self._stat_cache = self.index.stat_rows()
        row = self._stat_cache.get(st.rel)
        if row is not None and is_clean(row, st):
            oid: bytes | None = row.file_id
        else:
            oid = self._hash(st)
        self.plan.ids[st.rel] = oid
        return oid

    def _hash(self, st: FileStat) -> bytes | None:
        hashed = hashed_row(self.root / st.rel, st)
        if hashed is None:
            return None  # unreadable: storing it first will say why
        self.plan.hashed.append((st.rel, hashed[1]))
        return hashed[0]


def _count_all(directory: Path) -> int:
    """Every non-directory entry under `directory`, ignored or not."""
    return sum(
        len(files) + sum(1 for d in dirs if os.path.islink(os.path.join(top, d)))
        for top, dirs, files in os.walk(directory)
    )
