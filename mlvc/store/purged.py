"""`.mlvc/purged`: tombstones of file contents removed on purpose (`mlvc purge`).

One JSON object a line (`id`, `time`, `user`, `reason`, keys sorted). A run that read or
wrote a purged content still loads and shows; reading the content gives an error saying
it was purged, when and why, instead of "not found". Append-only; a torn last line is
skipped, and any
damaged line is named by `mlvc fsck` and dropped by `fsck --repair`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mlvc.store.fsutil import atomic_write

NAME = "purged"


@dataclass(frozen=True)
class Tombstone:
    id: str  # hex
    time: str
    user: str
    reason: str


def read(mlvc_dir: Path) -> dict[str, Tombstone]:
    return parse(mlvc_dir)[0]


def parse(mlvc_dir: Path) -> tuple[dict[str, Tombstone], list[int]]:
    """The tombstones, and the 1-based numbers of damaged lines (skipped; fsck names them)."""
    try:
        lines = (mlvc_dir / NAME).read_bytes().split(b"\n")
    except FileNotFoundError:
        return {}, []
    found, damaged = {}, []
    for number, text in enumerate(lines, 1):
        if not text:
            continue
        try:
            raw = json.loads(text.decode("utf-8"))
            stone = Tombstone(
                str(raw["id"]), str(raw["time"]), str(raw["user"]), str(raw["reason"])
            )
            bytes.fromhex(stone.id)
            if len(stone.id) != 64:
                raise ValueError(stone.id)
        except (ValueError, KeyError, TypeError):  # UnicodeDecodeError is a ValueError
            damaged.append(number)
            continue
        found[stone.id] = stone
    return found, damaged


def rewrite(mlvc_dir: Path, stones: dict[str, Tombstone]) -> None:
    """The file with `stones` only (fsck --repair drops damaged lines)."""
    atomic_write(mlvc_dir / NAME, _lines(stones.values()))


def _lines(stones: Iterable[Tombstone]) -> bytes:
    return "".join(json.dumps(s.__dict__, sort_keys=True) + "\n" for s in stones).encode()


def add(mlvc_dir: Path, stones: list[Tombstone]) -> None:
    data = _lines(stones)
    fd = os.open(mlvc_dir / NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
