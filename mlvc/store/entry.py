"""Where one object lies in a pack: shared by the pack reader and the index."""

from __future__ import annotations

from typing import NamedTuple

from mlvc.ids import Kind, ObjectId


class Entry(NamedTuple):
    """Where one object lies in a pack: offset of its stored bytes, lengths, codec.
    A NamedTuple: `add` makes one per file, 20,000 at a time."""

    id: ObjectId
    kind: Kind
    codec: int
    offset: int
    raw_len: int
    stored_len: int
    check: bytes
