"""`.mlvc/runs.log`: the append-only record of committed runs, the store's commit point.

A run exists once its line is durable here. The line is appended (and fsynced) after
the packs holding the run are published and durable, and just before the index
transaction that names the run commits. So:
- a process killed before the append leaves a pack (published or not) whose run no log
  line names: `index rebuild` does not bring that run back, and `gc` reclaims the pack;
- a process killed between the append and the index commit leaves a complete, durable
  run the index does not list yet: `mlvc fsck` reports it and `fsck --repair` (or `index
  rebuild`) indexes it.

Each line is `<run id, 64 hex> <check, 16 hex>\n`, the check being the first 8 bytes of
BLAKE3 of a fixed context and the id: a torn or damaged line fails it and is skipped
(and reported by fsck). A store made before this file existed has none: the first
commit writes every run of the index into it first, and rebuild without it takes every
run it finds in the packs, as it always did.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from mlvc.ids import ObjectId
from mlvc.store.fsutil import atomic_write, fsync_dir

NAME = "runs.log"
_CONTEXT = b"mlvc 2026 runs.log v1\n"
_FORGET = b"mlvc 2026 runs.log forget v1\n"  # `mlvc forget`: the run leaves history
_LINE = 64 + 1 + 16 + 1


def _check(oid: bytes, context: bytes = _CONTEXT) -> str:
    return blake3.blake3(context + oid).digest()[:8].hex()


def line(oid: bytes, forget: bool = False) -> bytes:
    return f"{oid.hex()} {_check(oid, _FORGET if forget else _CONTEXT)}\n".encode()


@dataclass
class Contents:
    runs: list[ObjectId] = field(default_factory=list)  # committed, not forgotten; in order
    damaged: list[int] = field(default_factory=list)  # 1-based numbers of bad lines
    forgotten: set[ObjectId] = field(default_factory=set)  # committed, then forgotten


def read(path: Path) -> Contents | None:
    """The committed runs, or None when the store has no log (made before it existed)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    found = Contents()
    live: dict[bytes, None] = {}  # insertion-ordered set
    for number, text in enumerate(data.split(b"\n"), 1):
        if not text:
            continue
        parsed = _parse(text)
        if parsed is None:
            found.damaged.append(number)
        elif parsed[1]:
            live.pop(parsed[0], None)
            found.forgotten.add(parsed[0])
        else:
            live.setdefault(parsed[0])
            found.forgotten.discard(parsed[0])
    found.runs = [ObjectId(oid) for oid in live]
    return found


def _parse(text: bytes) -> tuple[ObjectId, bool] | None:
    """(run id, whether the line forgets it), or None for a damaged line."""
    if len(text) != _LINE - 1:
        return None
    hex_id, _, check = text.partition(b" ")
    try:
        oid = bytes.fromhex(hex_id.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    if len(oid) != 32:
        return None
    mark = check.decode("ascii", "replace")
    if mark == _check(oid):
        return ObjectId(oid), False
    if mark == _check(oid, _FORGET):
        return ObjectId(oid), True
    return None


def rewrite(path: Path, runs: Iterable[bytes], forgotten: Iterable[bytes]) -> None:
    """The log anew, atomically: a line for each of `runs` (in order), then a forget
    line for each of `forgotten` (fsck --repair, from a sound index)."""
    data = b"".join(line(r) for r in runs) + b"".join(line(r, True) for r in forgotten)
    atomic_write(path, data)


def append(path: Path, runs: Iterable[bytes], forget: bool = False) -> None:
    """Append `runs` durably (a missing log is created: pass every run then); with
    `forget`, lines that take them out of history again."""
    data = b"".join(line(r, forget) for r in runs)
    fresh = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn last line: skip past it
            data = b"\n" + data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if fresh:
        fsync_dir(path.parent)
