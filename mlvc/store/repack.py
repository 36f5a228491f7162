"""Copying some entries of a pack into a new pack, as their stored bytes: how `gc`
drops garbage and `fsck --repair` keeps the sound objects of a damaged pack."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from mlvc.store.entry import Entry
from mlvc.store.fsutil import fsync_dir
from mlvc.store.index import Index
from mlvc.store.pack import PackWriter
from mlvc.store.upgrade import to_format_2


def copy_entries(
    packs: Path, name: str, entries: Iterable[Entry]
) -> tuple[str | None, list[Entry]]:
    """A new pack in `packs` holding `entries` of pack `name`, published and durable;
    returns its name and its entries (None and [] when there is nothing to copy)."""
    chosen = sorted(entries, key=lambda e: e.offset)
    if not chosen:
        return None, []
    to_format_2(packs.parent)
    writer = PackWriter(packs)
    moved = []
    try:
        with open(packs / f"{name}.pack", "rb") as handle:
            for e in chosen:
                handle.seek(e.offset)
                stored = handle.read(e.stored_len)
                moved.append(writer.add(e.id, e.kind, e.codec, e.raw_len, stored))
        new = writer.seal()
        writer.publish()
    except BaseException:
        writer.abort()
        raise
    fsync_dir(packs)
    return new, moved


def rewrite_pack(packs: Path, index: Index, name: str, keep: Iterable[Entry]) -> None:
    """Pack `name` with only `keep`: they go into a new pack, published and indexed in
    one transaction, and only then is the old pack deleted. A crash at any point loses
    nothing; an old pack left behind holds only copies or garbage."""
    new, moved = copy_entries(packs, name, keep)
    with index.transaction():
        index.replace_pack(name, new, moved)
    os.unlink(packs / f"{name}.pack")
    fsync_dir(packs)
