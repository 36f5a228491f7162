"""Deterministic generation of the benchmark data sets under benchmarks/.data/."""

from __future__ import annotations

import os
import random
import shutil
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20
GiB = 1 << 30

SEED = 20_240_601
BLOCK = 64 * MiB

BIG_SIZE = 2 * GiB
WEIGHTS_SIZE = 512 * MiB
CSV_SIZE = 257 * MiB
SMALL_COUNT = 20_000
SMALL_DIRS = 100
SMALL_MIN, SMALL_MAX = 1024, 4096

# Each 64 MiB block of weights.bin is one "layer": a weight matrix followed by
# a LayerNorm-like vector of values close to 1.0.
NORM_BYTES = 2 * MiB

CSV_HEADER = "id,timestamp,user_id,country,category,event,device,amount,score,latency_ms,comment\n"
COUNTRIES = ("US", "DE", "FR", "GB", "JP", "BR", "IN", "CA", "AU", "ES", "IT", "NL", "SE", "PL")
CATEGORIES = (
    "electronics", "books", "clothing", "home_garden", "toys",
    "sports", "beauty", "grocery", "automotive", "health",
)  # fmt: skip
EVENTS = ("view", "view", "view", "click", "click", "add_to_cart", "purchase", "refund")
DEVICES = ("desktop", "mobile", "mobile", "tablet")
COMMENTS = (
    "late delivery", "gift wrap requested", "price match", "customer called support",
    "duplicate order suspected", "promo code applied", "address corrected",
)  # fmt: skip
EPOCH_2024 = 1_704_067_200


@dataclass(frozen=True)
class Dataset:
    """One generated input: its name under .data/, size in bytes and generator."""

    name: str
    size: int
    make: Callable[[Path], None]
    is_dir: bool = False


def _f32_byte(value: float, index: int) -> int:
    """Byte ``index`` of the little-endian float32 encoding of ``value``."""
    return struct.pack("<f", value)[index]


def _byte_table(rng: random.Random, mu: float, sigma: float, index: int) -> bytes:
    """A 256-entry translate table mapping a uniform byte to byte ``index`` of N(mu, sigma)."""
    return bytes(_f32_byte(rng.gauss(mu, sigma), index) for _ in range(256))


def _gaussian_floats(rng: random.Random, nbytes: int, mu: float, sigma: float) -> bytearray:
    """Float32 values shaped like N(mu, sigma): random mantissas, sampled sign/exponent bytes.

    Pure-Python sampling of 128M floats is far too slow, so random bytes are generated in
    bulk and the high bytes (sign, exponent, top mantissa bits) are remapped with
    ``bytes.translate`` through tables sampled from ``random.gauss``.
    """
    buf = bytearray(rng.randbytes(nbytes))
    buf[3::4] = buf[3::4].translate(_byte_table(rng, mu, sigma, 3))
    if sigma < abs(mu) / 100:  # values cluster at one exponent: byte 2 is skewed too
        buf[2::4] = buf[2::4].translate(_byte_table(rng, mu, sigma, 2))
    return buf


def _weights_blocks(rng: random.Random, total: int) -> Iterator[bytes]:
    """64 MiB layers: a N(0, σ) matrix then a LayerNorm gain vector near 1.0."""
    for _ in range(total // BLOCK):
        sigma = rng.uniform(0.01, 0.05)
        yield bytes(_gaussian_floats(rng, BLOCK - NORM_BYTES, 0.0, sigma))
        yield bytes(_gaussian_floats(rng, NORM_BYTES, 1.0, 0.002))


def make_weights(path: Path) -> None:
    """Write a float32 'weights' file that compresses about as badly as real weights."""
    rng = random.Random(SEED + 1)
    with path.open("wb") as fh:
        for block in _weights_blocks(rng, WEIGHTS_SIZE):
            fh.write(block)


def make_big(path: Path) -> None:
    """Write BIG_SIZE bytes of os.urandom in 64 MiB blocks (incompressible, no dedup)."""
    with path.open("wb") as fh:
        for _ in range(BIG_SIZE // BLOCK):
            fh.write(os.urandom(BLOCK))


class _CsvRows:
    """An endless, seeded stream of realistic event-log CSV rows."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.row_id = 0
        self.clock = 0.0
        self._stamp_sec = -1
        self._stamp_prefix = ""

    def _stamp(self) -> str:
        sec = int(self.clock)
        if sec != self._stamp_sec:
            self._stamp_sec = sec
            self._stamp_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(EPOCH_2024 + sec))
        return f"{self._stamp_prefix}.{int((self.clock - sec) * 1000):03d}Z"

    def next(self, comment: str | None = None) -> str:
        """The next row; ``comment`` overrides the (usually empty) free-text column."""
        rng = self.rng
        self.clock += rng.random() * 0.5
        if comment is None:
            comment = rng.choice(COMMENTS) if rng.random() < 0.02 else ""
        row = (
            f"{self.row_id},{self._stamp()},{rng.randrange(1, 2_000_000)},"
            f"{rng.choice(COUNTRIES)},{rng.choice(CATEGORIES)},{rng.choice(EVENTS)},"
            f"{rng.choice(DEVICES)},{rng.random() * 500:.6f},{rng.gauss(0.0, 1.0):.6f},"
            f"{rng.expovariate(1 / 40):.6f},{comment}\n"
        )
        self.row_id += 1
        return row


def _filler_comment(length: int) -> str:
    """Free text of exactly ``length`` characters (no commas) to pad the last CSV row."""
    text = ""
    while len(text) < length:
        text += "; ".join(COMMENTS) + "; "
    return text[:length].rstrip().ljust(length, ".")


def make_csv(path: Path) -> None:
    """Write exactly CSV_SIZE bytes of CSV: whole rows, the last one padded via its comment."""
    rows = _CsvRows(SEED + 2)
    written = len(CSV_HEADER)
    reserve = 256  # stop early enough that one padded row fills the remainder
    with path.open("w", encoding="ascii", newline="") as fh:
        fh.write(CSV_HEADER)
        chunk: list[str] = []
        while True:
            row = rows.next()
            if written + len(row) > CSV_SIZE - reserve:
                break
            chunk.append(row)
            written += len(row)
            if len(chunk) == 20_000:
                fh.write("".join(chunk))
                chunk.clear()
        fh.write("".join(chunk))
        last = rows.next(comment="")
        fh.write(last[:-1] + _filler_comment(CSV_SIZE - written - len(last)) + "\n")


def _small_sizes() -> list[int]:
    """Sizes of the small files, from their own seeded generator."""
    rng = random.Random(SEED + 3)
    return [rng.randint(SMALL_MIN, SMALL_MAX) for _ in range(SMALL_COUNT)]


def small_total() -> int:
    """Total bytes of the small-files tree."""
    return sum(_small_sizes())


def make_small(root: Path, dirs: int = SMALL_DIRS) -> None:
    """Write SMALL_COUNT files of 1-4 KiB random bytes spread over ``dirs`` directories
    (the same contents whatever ``dirs``)."""
    rng = random.Random(SEED + 4)
    for d in range(dirs):
        (root / f"d{d:03d}").mkdir(parents=True)
    for i, size in enumerate(_small_sizes()):
        (root / f"d{i % dirs:03d}" / f"f{i:05d}.bin").write_bytes(rng.randbytes(size))


def make_small_flat(root: Path) -> None:
    """The small files, all in one directory."""
    make_small(root, dirs=1)


DATASETS: dict[str, Dataset] = {
    "big": Dataset("big.bin", BIG_SIZE, make_big),
    "weights": Dataset("weights.bin", WEIGHTS_SIZE, make_weights),
    "csv": Dataset("table.csv", CSV_SIZE, make_csv),
    "small": Dataset("small", small_total(), make_small, is_dir=True),
    "small-flat": Dataset("small-flat", small_total(), make_small_flat, is_dir=True),
}


def _dir_stats(root: Path) -> tuple[int, int]:
    """(number of files, total bytes) under ``root``."""
    count = total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            count += 1
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return count, total


def is_ready(data_dir: Path, ds: Dataset) -> bool:
    """Whether ``ds`` already exists in ``data_dir`` with the expected size (and file count)."""
    path = data_dir / ds.name
    if ds.is_dir:
        return path.is_dir() and _dir_stats(path) == (SMALL_COUNT, ds.size)
    return path.is_file() and path.stat().st_size == ds.size


def generate(data_dir: Path, ds: Dataset) -> Path:
    """(Re)generate ``ds`` atomically: build under a temporary name, then rename."""
    final = data_dir / ds.name
    tmp = data_dir / (ds.name + ".tmp")
    for stale in (tmp, final):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    data_dir.mkdir(parents=True, exist_ok=True)
    ds.make(tmp)
    os.replace(tmp, final)
    return final
