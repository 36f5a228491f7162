"""Stat-cache rows: what the index's `statcache` table holds of a file (its size, times,
inode and content id, and when it was hashed), and a compact list of them for commands
that make one per file (an `add` of a million files)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

from mlvc.ids import ObjectId
from mlvc.store.rowdiff import InPathOrder, by_path

_PACKED = struct.Struct("<qqQqq")  # size, mtime_ns, ino, hashed_ns, ctime_ns; then the id


class StatRow(NamedTuple):
    """NamedTuples for the rows status loads by the ten thousand: cheap to build."""

    size: int
    mtime_ns: int
    ino: int
    file_id: ObjectId
    hashed_ns: int
    ctime_ns: int


class StatRows:
    """Stat-cache rows held until the index takes them, each a path and one bytes value:
    a (path, StatRow) pair with its five integers took about 250 bytes, this about 160
    (a million-file `add` holds a million until its index transaction)."""

    __slots__ = ("_rows",)

    def __init__(self) -> None:
        self._rows: list[tuple[str, bytes]] = []

    def add(
        self,
        path: str,
        size: int,
        mtime_ns: int,
        ino: int,
        file_id: bytes,
        hashed_ns: int,
        ctime_ns: int,
    ) -> None:
        """The row of `path`, as `StatRow` has its fields."""
        self._rows.append((path, _PACKED.pack(size, mtime_ns, ino, hashed_ns, ctime_ns) + file_id))

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[tuple[str, StatRow]]:
        return (_unpacked(path, packed) for path, packed in self._rows)

    def in_path_order(self) -> InPathOrder:
        """The rows sorted by path (stably: of a path given twice, the later comes later),
        each made as it is taken. Sorts in place: the rows are taken once."""
        self._rows.sort(key=by_path)
        return InPathOrder(iter(self))


def _unpacked(path: str, packed: bytes) -> tuple[str, StatRow]:
    size, mtime_ns, ino, hashed_ns, ctime_ns = _PACKED.unpack_from(packed)
    oid = ObjectId(packed[_PACKED.size :])
    return path, StatRow(size, mtime_ns, ino, oid, hashed_ns, ctime_ns)
