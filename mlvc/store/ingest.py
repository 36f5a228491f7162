"""Reading workspace files for the store: opening them, sampling them to decide
compression, and reading, hashing and encoding a whole small file (in a forked worker too:
nothing here touches the index or the packs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from mlvc.errors import FileVanishedError, UnreadableFileError
from mlvc.ids import file_id
from mlvc.store import compress
from mlvc.store.fsutil import read_small_file


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
    """(codec, stored bytes) for a whole small content: zstd when a sample says it pays
    and the result is smaller, as `put_bytes` decides."""
    if compress.worth_compressing([data[:65536]]):
        squeezed = compress.compress(data)
        if len(squeezed) < len(data):
            return compress.Codec.ZSTD, squeezed
    return compress.Codec.RAW, data


def read_encoded(path: str) -> list[object] | None:
    """A small file read, hashed and encoded: [id, raw length, codec, stored], or None
    when it cannot be read (the caller's general path reports why). Runs in a forked
    process: it touches neither the index nor the packs."""
    try:
        data = read_small_file(path)
    except OSError:
        return None
    return [file_id(data), len(data), *encode_chunk(data)]
