"""Where one object lies in a pack: shared by the pack reader and the index."""

from __future__ import annotations

from dataclasses import dataclass

from mlvc.ids import Kind, ObjectId


@dataclass(frozen=True, slots=True)
class Entry:
    """Where one object lies in a pack: offset of its stored bytes, lengths, codec."""

    id: ObjectId
    kind: Kind
    codec: int
    offset: int
    raw_len: int
    stored_len: int
    check: bytes
