"""Reading workspace files for the store: opening them, sampling them to decide
compression, reading, hashing and encoding a whole small file (in a forked worker too:
nothing here touches the index or the packs), and cutting a large file's chunk list into
manifest nodes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from mlvc.errors import FileVanishedError, UnreadableFileError
from mlvc.ids import file_id
from mlvc.store import compress
from mlvc.store.fsutil import read_small_file

if TYPE_CHECKING:
    from mlvc.objects import Part

# A manifest node ends after a chunk whose id has this many low zero bits in its first
# byte pair (on average every 256 chunks), or at NODE_MAX parts: content-defined, so an
# edit rewrites one node, not the whole chunk list.
NODE_MASK = 0xFF
NODE_MAX = 2048


def samples(handle: object, size: int) -> list[bytes]:
    """Up to three 64 KiB samples (start, middle, end) to decide compression."""
    step = compress.SAMPLE
    offsets = sorted({0, max(0, size // 2 - step // 2), max(0, size - step)})
    fd = handle.fileno()  # type: ignore[attr-defined]
    return [os.pread(fd, step, off) for off in offsets]


def open_file(path: Path | str) -> BinaryIO:
    try:
        return open(path, "rb", buffering=0)
    except FileNotFoundError:
        raise FileVanishedError(f"cannot read {path}: it was removed") from None
    except OSError as exc:
        raise UnreadableFileError(f"cannot read {path}: {exc.strerror}") from None


def encode_chunk(data: bytes) -> tuple[int, bytes]:
    """(codec, stored bytes) for a whole content stored as one chunk (a small file, a
    log, a patch): zstd when a sample says it pays and the result is smaller. Content
    no larger than a sample is its own sample: compressed once, and that is what is
    stored when it pays (the same bytes a second compression would give; text-like
    small files: a third less time in zstd)."""
    if len(data) <= compress.SAMPLE:
        return compress.smaller(data, compress.squeezed(data))
    packed = compress.worth_compressing([data[: compress.SAMPLE]])
    return compress.smaller(data, compress.compress(data) if packed else None)


def read_encoded(path: str) -> list[object] | None:
    """A small file read, hashed and encoded: [id, raw length, codec, stored], or None
    when it cannot be read (the caller's general path reports why). Runs in a forked
    process: it touches neither the index nor the packs."""
    try:
        data = read_small_file(path)
    except OSError:
        return None
    return [file_id(data), len(data), *encode_chunk(data)]


def node_groups(parts: list[Part]) -> list[list[Part]]:
    """A large file's chunks, in order, cut into the groups that become its manifest's
    nodes (one group: the manifest lists the chunks itself)."""
    groups: list[list[Part]] = [[]]
    for part in parts:
        groups[-1].append(part)
        if (int.from_bytes(part.id[:2], "big") & NODE_MASK) == 0 or len(groups[-1]) >= NODE_MAX:
            groups.append([])
    return [g for g in groups if g]
