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

from mlvc.errors import ObjectNotFoundError
from mlvc.store.fsutil import atomic_write

NAME = "purged"


@dataclass(frozen=True)
class Tombstone:
    id: str  # hex
    time: str
    user: str
    reason: str
    objects: tuple[str, ...] = ()  # hex ids whose bytes went with it (its unshared chunks)


def read(mlvc_dir: Path) -> dict[str, Tombstone]:
    return parse(mlvc_dir)[0]


def refuse(mlvc_dir: Path, prefix: str) -> None:
    """The error for a content `mlvc purge` removed, if the id `prefix` names one (a
    store that does not find an object asks this before saying "not found")."""
    stone = next((s for h, s in read(mlvc_dir).items() if h.startswith(prefix)), None)
    if stone is not None:
        raise ObjectNotFoundError(
            f"object {stone.id[:12]} was purged on {stone.time[:10]} by {stone.user}:"
            f" {stone.reason or 'no reason given'}",
            hint="its bytes are gone from this store on purpose; runs that used it"
            " still show, but it cannot be restored",
        )


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
            stone = decode(text)
        except ValueError:
            damaged.append(number)
            continue
        found[stone.id] = stone
    return found, damaged


def decode(text: bytes) -> Tombstone:
    """One tombstone from its JSON; ValueError for anything else (a damaged line, a
    tombstone file on a remote that is not one)."""
    try:
        raw = json.loads(text.decode("utf-8"))
        objects = tuple(str(o) for o in raw.get("objects", ()))
        stone = Tombstone(
            str(raw["id"]), str(raw["time"]), str(raw["user"]), str(raw["reason"]), objects
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(str(exc)) from None
    for oid in (stone.id, *stone.objects):
        if len(oid) != 64 or oid.strip("0123456789abcdef"):
            raise ValueError(f"not an object id: {oid[:70]!r}")
    return stone


def encode(stone: Tombstone) -> bytes:
    raw = {**stone.__dict__, "objects": list(stone.objects)}
    return (json.dumps(raw, sort_keys=True) + "\n").encode()


def rewrite(mlvc_dir: Path, stones: dict[str, Tombstone]) -> None:
    """The file with `stones` only (fsck --repair drops damaged lines)."""
    atomic_write(mlvc_dir / NAME, _lines(stones.values()))


def _lines(stones: Iterable[Tombstone]) -> bytes:
    return b"".join(encode(s) for s in stones)


def add(mlvc_dir: Path, stones: list[Tombstone]) -> None:
    data = _lines(stones)
    fd = os.open(mlvc_dir / NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
