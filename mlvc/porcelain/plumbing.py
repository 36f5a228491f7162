"""Plumbing: `hash-object`, `cat-object`, `ls-tree`."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlvc.errors import MlvcError, PathNotFoundError, UnreadableFileError
from mlvc.ids import Kind, ObjectId, short
from mlvc.objects import ManifestNode, Run, Tree, TreeEntry
from mlvc.repo import Repo
from mlvc.workspace.statcache import content_id


@dataclass(frozen=True)
class HashResult:
    path: str
    id: ObjectId
    size: int


def hash_object(path: Path) -> HashResult:
    """The id `add` would record for a file or symlink, without storing it."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            return HashResult(str(path), *content_id(path, symlink=True))
        if stat.S_ISDIR(st.st_mode):
            raise MlvcError(f"{path} is a directory", hint="hash-object takes files")
        if not stat.S_ISREG(st.st_mode):
            # A device such as /dev/zero never ends and a fifo blocks: as `add` does,
            # only regular files and symlinks are hashed.
            raise UnreadableFileError(
                f"{path} is not a regular file (a fifo, socket or device)",
                hint="hash-object takes files and symlinks",
            )
        oid, size = content_id(path, symlink=False)
    except FileNotFoundError:
        raise PathNotFoundError(f"{path}: no such file") from None
    except PermissionError as exc:
        raise UnreadableFileError(f"cannot read {path}: {exc.strerror}") from None
    return HashResult(str(path), oid, size)


@dataclass(frozen=True)
class CatResult:
    """A file's content (`chunks`, verified as it streams) or a decoded object (`value`)."""

    id: ObjectId
    kind: Kind
    chunks: Iterator[bytes] | None
    value: dict[str, Any] | None


def cat_object(repo: Repo, ref: str) -> CatResult:
    store = repo.store
    oid = store.resolve(ref)
    kind = store.kind(oid)
    if kind in (Kind.CHUNK, Kind.MANIFEST):
        return CatResult(oid, kind, store.iter_file(oid), None)
    _, data = store.get(oid)
    what = f"{kind.label} {short(oid)}"
    decoded: Any
    if kind is Kind.TREE:
        decoded = Tree.decode(data, what)
        value: dict[str, Any] = {"entries": [_entry_value(e) for e in decoded.entries]}
    elif kind is Kind.RUN:
        value = Run.decode(data, what).to_value()
    else:
        decoded = ManifestNode.decode(data, what)
        value = {"parts": [[p.id, p.length] for p in decoded.parts]}
    return CatResult(oid, kind, None, value)


def _entry_value(entry: TreeEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "kind": entry.kind,
        "executable": entry.executable,
        "size": entry.size,
        "id": entry.id,
    }


@dataclass(frozen=True)
class LsTreeEntry:
    path: str
    kind: str
    executable: bool
    size: int
    id: ObjectId


def ls_tree(repo: Repo, ref: str, recursive: bool = False) -> tuple[ObjectId, list[LsTreeEntry]]:
    oid = repo.store.resolve(ref)
    return oid, list(_walk_tree(repo, oid, "", recursive))


def _walk_tree(repo: Repo, oid: ObjectId, prefix: str, recursive: bool) -> Iterator[LsTreeEntry]:
    """Depth-first, in path order, with an explicit stack: trees may nest very deep."""
    stack: list[Iterator[tuple[str, TreeEntry]]] = [_entries(repo, oid, prefix)]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        path, e = item
        if recursive and e.kind == "tree":
            stack.append(_entries(repo, e.id, f"{path}/"))
        else:
            yield LsTreeEntry(path, e.kind, e.executable, e.size, e.id)


def _entries(repo: Repo, oid: ObjectId, prefix: str) -> Iterator[tuple[str, TreeEntry]]:
    kind, data = repo.store.get(oid)
    if kind is not Kind.TREE:
        raise MlvcError(f"{short(oid)} is a {kind.label}, not a tree")
    tree = Tree.decode(data, f"tree {short(oid)}")
    return iter([(f"{prefix}{e.name}", e) for e in tree.entries])
