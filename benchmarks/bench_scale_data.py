"""Seeded data sets of the scale benchmark (`make bench-scale`) under benchmarks/.data/scale.

- ``files-N``: N files of 1-4 KiB seeded random bytes, file ``i`` in directory
  ``d{i % dirs:04d}`` as ``f{i:07d}.bin`` (so the first ``k`` directories hold the files a
  sample of ``k * N / dirs`` files needs).
- ``big-NG.bin``: N GiB of BLAKE3 extended output of a fixed key (incompressible, no
  repeated chunk), written in full (no holes), 64 MiB blocks hashed on two threads.

A data set is complete when its ``.done`` marker (a JSON of its parameters and totals) is
present; generation writes under a temporary name, renames, then writes the marker.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

MiB = 1 << 20
GiB = 1 << 30
SEED = 20_261_206
FILE_MIN, FILE_MAX = 1024, 4096
BLOCK = 64 * MiB


@dataclass(frozen=True)
class FileSet:
    """Parameters of a many-small-files data set."""

    count: int
    dirs: int
    seed: int = SEED

    @property
    def name(self) -> str:
        return f"files-{self.count}"

    def dir_name(self, d: int) -> str:
        return f"d{d:04d}"

    def rel_path(self, i: int) -> str:
        """Path of file ``i`` relative to the set's root."""
        return f"{self.dir_name(i % self.dirs)}/f{i:07d}.bin"

    def spread(self, count: int, first_dirs: int) -> list[str]:
        """``count`` files spread round-robin over the first ``first_dirs`` directories."""
        picked = []
        for j in range(count):
            i = j % first_dirs + (j // first_dirs) * self.dirs
            if i < self.count:
                picked.append(self.rel_path(i))
        return picked

    def sizes(self) -> list[int]:
        """File sizes in file order, from their own seeded generator."""
        rng = random.Random(self.seed)
        return [rng.randint(FILE_MIN, FILE_MAX) for _ in range(self.count)]

    def sample_dirs(self, files: int) -> int:
        """How many leading directories hold at least ``files`` files."""
        return min(self.dirs, max(1, math.ceil(files * self.dirs / self.count)))

    def stats(self, first_dirs: int | None = None) -> tuple[int, int]:
        """(files, bytes) of the whole set, or of its ``first_dirs`` directories."""
        limit = self.dirs if first_dirs is None else first_dirs
        picked = [s for i, s in enumerate(self.sizes()) if i % self.dirs < limit]
        return len(picked), sum(picked)


def write_files(root: Path, spec: FileSet, progress: Callable[[str], None]) -> dict[str, object]:
    """Write ``spec``'s files under ``root`` (created), directory by directory."""
    rng = random.Random(spec.seed + 1)
    sizes = spec.sizes()
    for d in range(spec.dirs):
        (root / spec.dir_name(d)).mkdir(parents=True)
    for i, size in enumerate(sizes):
        (root / spec.rel_path(i)).write_bytes(rng.randbytes(size))
        if i and i % 100_000 == 0:
            progress(f"  {i:,} of {spec.count:,} files written")
    return {}


def big_block(seed: int, index: int) -> bytes:
    """Block ``index`` of the big file: 64 MiB of BLAKE3 XOF output at offset index*64 MiB."""
    import blake3

    key = seed.to_bytes(32, "little")
    return bytes(blake3.blake3(key=key).digest(length=BLOCK, seek=index * BLOCK))


def write_big(path: Path, gib: int, seed: int = SEED) -> dict[str, object]:
    """Write ``gib`` GiB of incompressible bytes to ``path``, fully allocated; return
    {"blake3": hex digest of the content}."""
    import blake3

    whole = blake3.blake3(max_threads=blake3.blake3.AUTO)
    blocks = gib * GiB // BLOCK
    with ThreadPoolExecutor(max_workers=2) as ex, path.open("wb") as fh:
        pending = [ex.submit(big_block, seed, i) for i in range(min(2, blocks))]
        for i in range(blocks):
            data = pending.pop(0).result()
            if i + 2 < blocks:
                pending.append(ex.submit(big_block, seed, i + 2))
            fh.write(data)
            whole.update(data)
    return {"blake3": whole.hexdigest()}


def marker(data_dir: Path, name: str) -> Path:
    return data_dir / f"{name}.done"


def recorded(data_dir: Path, name: str) -> dict[str, object]:
    """What the marker of ``name`` records ({} without a readable marker)."""
    try:
        got = json.loads(marker(data_dir, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return got if isinstance(got, dict) else {}


def is_ready(data_dir: Path, name: str, expect: dict[str, object]) -> bool:
    """Whether ``name`` exists with a marker recording ``expect`` (and maybe more)."""
    got = recorded(data_dir, name)
    return (
        (data_dir / name).exists() and bool(got) and all(got.get(k) == v for k, v in expect.items())
    )


def _clear(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def ensure(
    data_dir: Path,
    name: str,
    expect: dict[str, object],
    make: Callable[[Path], dict[str, object]],
) -> Path:
    """``data_dir/name``, generated by ``make(tmp)`` unless ready (its marker records
    ``expect`` and what ``make`` returned); returns its path."""
    final = data_dir / name
    if is_ready(data_dir, name, expect):
        return final
    tmp = data_dir / f"{name}.tmp"
    marker(data_dir, name).unlink(missing_ok=True)
    for stale in (tmp, final):
        _clear(stale)
    data_dir.mkdir(parents=True, exist_ok=True)
    extra = make(tmp)
    os.replace(tmp, final)
    marker(data_dir, name).write_text(json.dumps({**expect, **extra}), encoding="utf-8")
    return final


def ensure_files(data_dir: Path, spec: FileSet, progress: Callable[[str], None]) -> Path:
    count, total = spec.stats()
    expect: dict[str, object] = {**asdict(spec), "files": count, "bytes": total}
    return ensure(data_dir, spec.name, expect, lambda tmp: write_files(tmp, spec, progress))


def big_name(gib: int) -> str:
    return f"big-{gib}g.bin"


def big_expect(gib: int) -> dict[str, object]:
    return {"gib": gib, "seed": SEED, "bytes": gib * GiB}


def ensure_big(data_dir: Path, gib: int) -> Path:
    return ensure(data_dir, big_name(gib), big_expect(gib), lambda tmp: write_big(tmp, gib))
