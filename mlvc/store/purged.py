"""`.mlvc/purged`: tombstones of file contents removed on purpose (`mlvc purge`).

One JSON object a line (`id`, `time`, `user`, `reason`, keys sorted). A run that read or
wrote a purged content still loads and shows; reading the content gives an error saying
it was purged, when and why, instead of "not found". Append-only; a torn last line is
skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

NAME = "purged"


@dataclass(frozen=True)
class Tombstone:
    id: str  # hex
    time: str
    user: str
    reason: str


def read(mlvc_dir: Path) -> dict[str, Tombstone]:
    try:
        lines = (mlvc_dir / NAME).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    found = {}
    for text in lines:
        try:
            raw = json.loads(text)
            stone = Tombstone(
                str(raw["id"]), str(raw["time"]), str(raw["user"]), str(raw["reason"])
            )
        except (ValueError, KeyError, TypeError):
            continue
        found[stone.id] = stone
    return found


def add(mlvc_dir: Path, stones: list[Tombstone]) -> None:
    data = "".join(json.dumps(s.__dict__, sort_keys=True) + "\n" for s in stones).encode()
    fd = os.open(mlvc_dir / NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
