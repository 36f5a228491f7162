"""How recorded paths differ: files by id (with a unified diff for text), trees entry by
entry, descending only into subtrees whose ids differ."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mlvc.ids import ObjectId, short
from mlvc.lineage.resolve import flatten_tree
from mlvc.objects import PathRecord, Tree
from mlvc.repo import Repo

TEXT_LIMIT = 1 << 20
"""Content over this size, or not UTF-8, or holding a NUL byte, gets no unified diff."""

State = Literal["added", "removed", "changed", "unchanged"]


@dataclass(frozen=True, slots=True)
class PathChange:
    """A path whose content differs. `files` lists the files added, removed or changed
    inside when both sides are trees; `patch` is a unified diff when both are text."""

    path: str
    state: State
    old: PathRecord | None
    new: PathRecord | None
    files: tuple[PathChange, ...] = ()
    patch: str | None = None


def paths_changed(
    repo: Repo, old: Mapping[str, PathRecord], new: Mapping[str, PathRecord], content: bool
) -> tuple[PathChange, ...]:
    found = (
        compare(repo, p, old.get(p), new.get(p), content) for p in sorted(old.keys() | new.keys())
    )
    return tuple(c for c in found if c is not None)


def compare(
    repo: Repo,
    path: str,
    old: PathRecord | None,
    new: PathRecord | None,
    content: bool,
    labels: tuple[str, str] | None = None,
) -> PathChange | None:
    """How `path` changed, or None when its content did not. Trees are compared entry by
    entry, descending only into subtrees whose ids differ."""
    if old is None or new is None:
        return PathChange(path, "removed" if new is None else "added", old, new)
    if old.id == new.id and old.kind == new.kind:
        return None
    if old.kind == new.kind == "tree":
        return PathChange(path, "changed", old, new, _tree(repo, old.id, new.id, path, content))
    patch = None
    if content and "tree" not in (old.kind, new.kind):
        names = labels or (f"a/{path}", f"b/{path}")
        patch = unified(repo, names, old.id, new.id, old.size, new.size)
    return PathChange(path, "changed", old, new, patch=patch)


def _tree(
    repo: Repo, old_id: bytes, new_id: bytes, root: str, content: bool
) -> tuple[PathChange, ...]:
    found: list[PathChange] = []
    # Iterative, like flatten_tree: a tree may nest deeper than Python's recursion limit.
    stack = [(old_id, new_id, f"{root}/" if root else "")]
    while stack:
        a_id, b_id, base = stack.pop()
        a, b = _entries(repo, a_id), _entries(repo, b_id)
        for name in a.keys() | b.keys():
            old, new = a.get(name), b.get(name)
            if old is not None and new is not None and old.kind == new.kind == "tree":
                if old.id != new.id:
                    stack.append((old.id, new.id, f"{base}{name}/"))
            elif old is not None and new is not None and "tree" not in (old.kind, new.kind):
                change = compare(repo, base + name, old, new, content)
                found += [change] if change is not None else []
            else:  # on one side only, or a file on one side and a directory on the other
                path = base + name
                found += [PathChange(p, "removed", r, None) for p, r in _leaves(repo, path, old)]
                found += [PathChange(p, "added", None, r) for p, r in _leaves(repo, path, new)]
    return tuple(sorted(found, key=lambda c: c.path))


def _entries(repo: Repo, tree_id: bytes) -> dict[str, PathRecord]:
    _, data = repo.store.get(tree_id)
    entries = Tree.decode(data, f"tree {short(tree_id)}").entries
    return {e.name: PathRecord(e.id, e.kind, e.size) for e in entries}


def _leaves(repo: Repo, path: str, record: PathRecord | None) -> list[tuple[str, PathRecord]]:
    if record is None:
        return []
    if record.kind != "tree":
        return [(path, record)]
    return sorted(flatten_tree(repo, record.id, f"{path}/").items())


def unified(
    repo: Repo,
    labels: tuple[str, str],
    old: ObjectId | None,
    new: ObjectId | None,
    old_size: int = 0,
    new_size: int = 0,
) -> str | None:
    """A unified diff of two texts (None stands for empty), or None when either is not text."""
    if max(old_size, new_size) > TEXT_LIMIT:
        return None
    a, b = _text(repo, old), _text(repo, new)
    if a is None or b is None:
        return None
    lines = difflib.unified_diff(a.splitlines(), b.splitlines(), *labels, lineterm="")
    return "\n".join(lines)


def _text(repo: Repo, oid: ObjectId | None) -> str | None:
    if oid is None:
        return ""
    parts, total = [], 0
    for chunk in repo.store.iter_file(oid):
        total += len(chunk)
        if total > TEXT_LIMIT:
            return None
        parts.append(chunk)
    data = b"".join(parts)
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
