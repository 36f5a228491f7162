"""Wall time and peak RSS of `mlvc add`, `status` and `checkout` over many small files.

    .venv/bin/python benchmarks/bench_memory.py                  # 200,000 files, 200 dirs
    .venv/bin/python benchmarks/bench_memory.py --files 1000000 --dirs 1000
    .venv/bin/python benchmarks/bench_memory.py --mlvc /other/checkout/.venv/bin/mlvc

The files (1-4 KiB of seeded random bytes) are generated once under `--data` and
hard-linked into a fresh workspace per run (cheap: no copy). Each command runs as a child;
its peak RSS is `ru_maxrss` from `wait4`, which covers the child and the workers it forked
and reaped. `checkout` restores the added directory into the empty place it leaves when
it is moved aside (the rows of `run.py` explain why moved, not deleted).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 16


def generate(data: Path, files: int, dirs: int) -> Path:
    """`data/files-N-D/` holding N files over D directories (made once, then reused)."""
    tree = data / f"files-{files}-{dirs}"
    done = tree.with_suffix(".done")
    if done.exists():
        return tree
    shutil.rmtree(tree, ignore_errors=True)
    rng = random.Random(SEED)
    for d in range(dirs):
        (tree / f"d{d:04d}").mkdir(parents=True)
    for i in range(files):
        path = tree / f"d{i % dirs:04d}" / f"f{i:07d}.bin"
        path.write_bytes(rng.randbytes(rng.randint(1024, 4096)))
    done.touch()
    return tree


def timed(argv: list[str], cwd: Path) -> tuple[float, float, float]:
    """(seconds, CPU seconds, peak RSS in MiB) of one command, which must succeed. CPU
    time (user + system, the command and the workers it reaped) varies less than wall
    time on a shared machine."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n{err}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def link_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, copy_function=os.link)


def run_once(mlvc: str, tree: Path, work: Path) -> dict[str, tuple[float, float, float]]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    link_tree(tree, work / "data")
    subprocess.run([mlvc, "init"], cwd=work, check=True, stdout=subprocess.DEVNULL)
    rows = {"add": timed([mlvc, "add", "data"], work)}
    rows["status"] = timed([mlvc, "status"], work)
    (work / "data").rename(work / "data.aside")
    rows["checkout"] = timed([mlvc, "checkout", "latest:data"], work)
    count = sum(len(f) for _, _, f in os.walk(work / "data"))
    expected = sum(len(f) for _, _, f in os.walk(tree))
    if count != expected:
        sys.exit(f"checkout wrote {count} files, not {expected}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--dirs", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--mlvc", default=str(HERE.parent / ".venv/bin/mlvc"))
    parser.add_argument("--data", type=Path, default=HERE / ".work/memory")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    tree = generate(args.data, args.files, args.dirs)
    print(f"{args.files:,} files in {args.dirs} dirs; mlvc: {args.mlvc}")
    print(f"{'run':>3} {'command':<9} {'seconds':>8} {'CPU s':>7} {'peak RSS MiB':>13}")
    for n in range(args.runs):
        work = args.data / f"work-{os.getpid()}"
        for name, (seconds, cpu, rss) in run_once(args.mlvc, tree, work).items():
            print(f"{n + 1:>3} {name:<9} {seconds:>8.2f} {cpu:>7.2f} {rss:>13.0f}", flush=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
