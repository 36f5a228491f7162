"""Per-entry zstd: decided per file from a sample, capped on the way out (no bombs)."""

from __future__ import annotations

import threading
from enum import IntEnum
from typing import TYPE_CHECKING, TypeVar

from mlvc.errors import CorruptObjectError

if TYPE_CHECKING:  # zstandard is imported on first use: most commands never need it
    import zstandard

SAMPLE = 64 << 10
# A zstd block yields at most 128 KiB and takes at least 4 bytes (an RLE block): an entry
# that claims more per stored byte lies. No entry mlvc writes is near MAX_RAW (chunks are
# at most 16 MiB, metadata at most 256 MiB): both bound what a read may allocate.
MAX_RATIO = (128 << 10) // 4
MAX_RAW = 1 << 30
# Store raw unless a sample shrinks by well over 10%: float32 weights shrink about 8%
# at 0.3-0.5 GB/s, which costs more time than it saves; CSV shrinks about 2.7x.
WORTH_IT = 0.80
# zstd's level 1: on the 257 MiB CSV of the benchmarks it compressed the chunks at 1.5
# times level 3's speed into fewer bytes (84 against 86 MiB); Python sources came out
# 5% larger at 1.3 times the speed. An `add` compresses on both cores and is what makes
# tracking cost something: the CSV's add took 0.90-1.10 s against 1.34-1.44 s at level 3.
LEVEL = 1


class Codec(IntEnum):
    RAW = 0
    ZSTD = 1


Raw = TypeVar("Raw", bound=bytes | memoryview)


def smaller(raw: Raw, squeezed: bytes | None) -> tuple[Codec, Raw | bytes]:
    """How an entry is stored, given its zstd form (None: not compressed): zstd when
    that is smaller, else the raw bytes."""
    if squeezed is not None and len(squeezed) < len(raw):
        return Codec.ZSTD, squeezed
    return Codec.RAW, raw


_local = threading.local()  # a ZstdCompressor serves one thread at a time
_probe: zstandard.ZstdCompressor | None = None


def compress(data: bytes | memoryview) -> bytes:
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        import zstandard

        compressor = _local.compressor = zstandard.ZstdCompressor(
            level=LEVEL, write_content_size=True
        )
    return compressor.compress(data)


def compress_many(items: list[memoryview]) -> list[bytes]:
    """`compress` of each, half of them on a pool thread (zstd releases the GIL): the
    chunks of a large compressible file (a CSV) are squeezed on two cores."""
    if len(items) < 2:
        return [compress(item) for item in items]
    from mlvc.store.chunker import pool

    half = len(items) // 2
    first = pool().submit(_compress_all, items[:half])
    rest = _compress_all(items[half:])
    return first.result() + rest


def _compress_all(items: list[memoryview]) -> list[bytes]:
    return [compress(item) for item in items]


def squeezed(data: bytes) -> bytes | None:
    """`compress(data)` when it shrinks `data` to at most WORTH_IT, else None: for a
    content that is its own sample (the decision `worth_compressing([data])` takes)."""
    if len(data) < 64:
        return None
    packed = compress(data)
    return packed if len(packed) <= len(data) * WORTH_IT else None


def worth_compressing(samples: list[memoryview] | list[bytes]) -> bool:
    """True when zstd at its fastest level shrinks the samples to at most WORTH_IT."""
    global _probe
    if _probe is None:
        import zstandard

        _probe = zstandard.ZstdCompressor(level=1)
    raw = sum(len(s) for s in samples)
    if raw < 64:
        return False
    packed = sum(len(_probe.compress(s)) for s in samples)
    return packed <= raw * WORTH_IT


def decompress(data: bytes, raw_len: int, what: str) -> bytes:
    import zstandard

    # zstandard trusts a frame's declared content size over max_output_size, and
    # allocates it before decompressing, so check the declaration first: a hostile frame
    # could otherwise claim any size.
    if raw_len > min(len(data) * MAX_RATIO, MAX_RAW):
        raise CorruptObjectError(f"{what} claims {raw_len} bytes from {len(data)} stored")
    try:
        declared = zstandard.frame_content_size(data)
        if declared != raw_len:
            raise CorruptObjectError(f"{what} declares {declared} bytes, not {raw_len}")
        out = zstandard.ZstdDecompressor().decompress(data, max_output_size=raw_len)
    except zstandard.ZstdError as exc:
        raise CorruptObjectError(f"{what} does not decompress: {exc}") from None
    if len(out) != raw_len:
        raise CorruptObjectError(f"{what} decompresses to {len(out)} bytes, not {raw_len}")
    return out
