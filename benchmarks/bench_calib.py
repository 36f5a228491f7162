"""Calibration rows: what this machine allows, measured in the same run as the tools.

Each mlvc row is set beside one of these (its "limit row", see docs/benchmarks.md):

- ``dd durable``: `dd` of the 2 GiB input with ``oflag=direct conv=fsync`` (the device's
  own durable write speed; mlvc makes its packs durable before indexing them);
- ``dd buffered``: the same without O_DIRECT and without a flush (page-cache speed);
- ``cp``: `cp --reflink=never` of the 2 GiB input (what a restore of a file costs at least);
- ``BLAKE3``: `b3sum` of the 2 GiB input, or the ``blake3`` module on all cores (mmap);
- ``CPU floor of add``: the 2 GiB cut and hashed as `add` does it (``cut_and_take``:
  FastCDC and BLAKE3 of every chunk in a forked child, BLAKE3 of the whole file here),
  read from the page cache, nothing stored;
- ``stat walk``: ``os.scandir`` + ``lstat`` of every entry of the 20k-file tree (warm);
- Python start-up: ``python -c pass`` and ``python -I -S -c pass``.

The in-process figures (BLAKE3 without `b3sum`, CPU floor, stat walk) run in a fresh child
(``python bench_calib.py MODE PATH``) that prints its own seconds, so the harness stays small
and start-up is not counted.
"""

from __future__ import annotations

import os
import shutil
import stat
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench_exec import remove_tree, run, timed, timed_runs
from bench_report import Limit, Row

STARTUP_RUNS = 10
WALK_RUNS = 5


def _child_seconds(python: str, mode: str, path: Path) -> float:
    """Seconds printed by this module run as ``python bench_calib.py MODE PATH``."""
    return float(run([python, __file__, mode, str(path)], path.parent).strip())


def _median_child(python: str, mode: str, path: Path, count: int) -> float:
    return statistics.median(_child_seconds(python, mode, path) for _ in range(count))


def measure(
    python: str, big: Path, small: Path, work: Path, log: Callable[[str], None]
) -> dict[str, float]:
    """Every calibration figure in seconds, by name (see the module docstring)."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / "calibration.out"
    here = work
    figures: dict[str, float] = {}
    try:
        dd = ["dd", f"if={big}", f"of={out}", "bs=64M", "status=none"]
        figures["dd durable"] = timed([*dd, "oflag=direct", "conv=fsync"], here)
        out.unlink()
        figures["dd buffered"] = timed(dd, here)
        out.unlink()
        figures["cp"] = timed(["cp", "--reflink=never", str(big), str(out)], here)
        out.unlink()
    finally:
        out.unlink(missing_ok=True)
    b3sum = shutil.which("b3sum")
    if b3sum:
        figures["BLAKE3"] = timed([b3sum, str(big)], here)
    else:
        figures["BLAKE3"] = _child_seconds(python, "blake3", big)
    figures["CPU floor of add"] = _child_seconds(python, "cpu-floor", big)
    figures["stat walk"] = _median_child(python, "stat-walk", small, WALK_RUNS)
    figures["python -c pass"] = statistics.median(
        timed_runs([python, "-c", "pass"], here, None, STARTUP_RUNS)
    )
    figures["python -I -S -c pass"] = statistics.median(
        timed_runs([python, "-I", "-S", "-c", "pass"], here, None, STARTUP_RUNS)
    )
    for name, seconds in figures.items():
        log(f"  calibration {name}: {seconds:.3f} s")
    if work.is_dir() and not any(work.iterdir()):
        remove_tree(work)
    return figures


def blake3_label() -> str:
    return "b3sum" if shutil.which("b3sum") else "blake3 module, all cores"


def rows(figures: dict[str, float], big_size: int, files: int) -> list[Row]:
    """The calibration rows (machine figures: no DVC, no target)."""
    gib = big_size / (1 << 30)
    labels = {
        "dd durable": f"limit: dd {gib:g} GiB, oflag=direct conv=fsync",
        "dd buffered": f"limit: dd {gib:g} GiB, buffered, no flush",
        "cp": f"limit: cp {gib:g} GiB",
        "BLAKE3": f"limit: BLAKE3 of {gib:g} GiB ({blake3_label()})",
        "CPU floor of add": f"limit: CPU floor of add, {gib:g} GiB cached, as the store cuts",
        "stat walk": f"limit: stat walk of {files:,} files (median of {WALK_RUNS})",
        "python -c pass": f"limit: `python -c pass` (median of {STARTUP_RUNS})",
        "python -I -S -c pass": f"limit: `python -I -S -c pass` (median of {STARTUP_RUNS})",
    }
    return [Row(labels[name], figures[name], None, "s") for name in labels if name in figures]


def limits(figures: dict[str, float]) -> dict[str, Limit]:
    """The limit of each mlvc row that has one, keyed by scenario."""
    add = max(figures["dd durable"], figures["CPU floor of add"])
    return {
        "add-big": Limit("max(dd durable, CPU floor)", add),
        "change-1byte": Limit("BLAKE3", figures["BLAKE3"]),
        "checkout-big": Limit("cp", figures["cp"]),
        "status-small": Limit("stat walk", figures["stat walk"]),
        "version": Limit("python -c pass", figures["python -c pass"]),
    }


# --- the in-process measurements, run in a fresh child --------------------------------------


def _blake3_seconds(path: Path) -> float:
    import blake3

    start = time.perf_counter()
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(str(path))
    hasher.digest()
    return time.perf_counter() - start


def _cpu_floor_seconds(path: Path) -> float:
    """The cutting and hashing `add` cannot avoid, done as the store does it (for a file
    of 128 MiB or more: cut and its chunks hashed in a forked child, the whole file hashed
    here; mlvc/store/cutter.py), from the page cache (the file is read once before), with
    no pack written. Until 2026-12-07 this row timed the in-process chunker, which `add`
    no longer uses for such a file and which waits for the GIL between chunks."""
    from mlvc.config import ChunkParams
    from mlvc.store.cutter import cut_and_take

    with path.open("rb", buffering=0) as handle:
        while handle.read(32 << 20):
            pass
    chunks = 0

    def take(batch: list[object]) -> None:
        nonlocal chunks
        chunks += len(batch)

    def restart() -> None:
        nonlocal chunks
        chunks = 0

    start = time.perf_counter()
    with path.open("rb", buffering=0) as handle:
        size = os.fstat(handle.fileno()).st_size
        _, read = cut_and_take(handle, size, ChunkParams(), None, take, None, restart, False)
    seconds = time.perf_counter() - start
    if read != size or not chunks:
        raise SystemExit(f"the cutter read {read} of {size} bytes")
    return seconds


def _stat_walk_seconds(root: Path) -> float:
    start = time.perf_counter()
    stack, count = [str(root)], 0
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if stat.S_ISDIR(os.lstat(entry.path).st_mode):
                    stack.append(entry.path)
                else:
                    count += 1
    seconds = time.perf_counter() - start
    if not count:
        raise SystemExit(f"no files under {root}")
    return seconds


MODES: dict[str, Callable[[Path], float]] = {
    "blake3": _blake3_seconds,
    "cpu-floor": _cpu_floor_seconds,
    "stat-walk": _stat_walk_seconds,
}

if __name__ == "__main__":
    print(f"{MODES[sys.argv[1]](Path(sys.argv[2])):.6f}")
