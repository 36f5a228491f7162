"""What each capture mode of `mlvc run` costs: the example pipeline (4 stages), a loop of
2,000 `cat` processes and `sort` of 200 MB, run plain, under `mlvc run` in the default
mode (inotify) and in strict mode (strace), and under `strace --seccomp-bpf` alone.

Run alone (`python benchmarks/bench_capture.py`) or as the `capture` rows of `make bench`.
Each figure is the median of RUNS runs; the first `mlvc run` of each workload, which
stores its inputs, is not timed (later runs find them in the stat cache, as in real use).
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_exec import GIT_COMMIT, first_commit, new_workspace, remove_tree, run, settle, timed
from bench_report import Row, Target, plain_table

RUNS = 5
CAT_FILES = 2000
SORT_BYTES = 200 << 20
STAGES = ("prepare", "featurize", "train", "evaluate")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pipeline"
SCENARIOS = {"capture": "capture modes: pipeline, 2,000 `cat`, `sort` 200 MB"}
# strace as strict mode runs it, writing the same output: the cost of tracing alone.
STRACE_ALONE = [
    "strace", "-f", "--seccomp-bpf", "-qq", "-z", "-y", "-s", "4096", "-e", "signal=none",
    "-e", "trace=open,openat,openat2,creat,execve,execveat,rename,renameat,renameat2",
    "-o", ".strace-alone.out", "--",
]  # fmt: skip
CAT_LOOP = 'for f in files/*; do cat "$f"; done > /dev/null'
SORT = "sort big.txt | tail -n 1 > last.txt"


def _target(base: float, stages: int | None) -> Target:
    """The default mode's goal: per stage of a pipeline, or as a ratio for one command."""
    if stages is None:
        return Target("≤ 1.15 × plain", lambda m, _d: m <= base * 1.15)
    limit = base * 1.1 + 0.2 * stages
    return Target(f"≤ plain × 1.1 + 0.2 s × {stages}", lambda m, _d: m <= limit)


def _medians(
    modes: dict[str, list[list[str]]], repo: Path, env: Mapping[str, str]
) -> dict[str, float]:
    """Per mode, the median over RUNS of the time to run each of its argvs in turn. The
    modes take turns (ABCD ABCD ...) so that a change of load on the machine falls on
    all of them alike."""
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(RUNS):
        for mode, argvs in modes.items():
            times[mode].append(sum(timed(argv, repo, env) for argv in argvs))
    return {mode: statistics.median(values) for mode, values in times.items()}


def _modes(mlvc: str, argvs: list[list[str]]) -> dict[str, list[list[str]]]:
    return {
        "plain": argvs,
        "python": [[mlvc, "run", "--trace=python", "--", *a] for a in argvs],
        "default": [[mlvc, "run", "--", *a] for a in argvs],
        "strict": [[mlvc, "run", "--trace=strict", "--", *a] for a in argvs],
        "strace alone": [[*STRACE_ALONE, *a] for a in argvs],
    }


def _workload(
    name: str,
    repo: Path,
    mlvc: str,
    argvs: list[list[str]],
    log: Callable[[str], None],
    stages: int | None = None,
) -> list[Row]:
    env = dict(os.environ)
    for mode in ("default", "strict"):  # stores the inputs, warms the caches: untimed
        for argv in _modes(mlvc, argvs)[mode]:
            run(argv, repo, env)
    times = _medians(_modes(mlvc, argvs), repo, env)
    log(f"  {name}: " + ", ".join(f"{m} {t:.3f} s" for m, t in times.items()))
    base, strace_alone = times["plain"], times["strace alone"]
    target = _target(base, stages)
    strict = Target("≤ 1.2 × strace alone", lambda m, _d: m <= strace_alone * 1.2)
    return [
        Row(f"{name}: plain (median of {RUNS})", base, None, "s"),
        Row(
            f"{name}: `mlvc run --trace=python` (before capture modes)", times["python"], None, "s"
        ),
        Row(f"{name}: `mlvc run`, default mode (inotify)", times["default"], None, "s", target),
        Row(f"{name}: `mlvc run --trace=strict`", times["strict"], None, "s", strict),
        Row(f"{name}: `strace --seccomp-bpf` alone", strace_alone, None, "s"),
    ]


def bench_capture(work: Path, mlvc: str, python: str, log: Callable[[str], None]) -> list[Row]:
    """Each workload in a workspace of its own (one's files do not slow another's scans)."""
    if shutil.which("strace") is None:
        log("  capture: strace is not installed: no capture rows")
        return []
    rows = []
    for build in (_pipeline, _cat_loop, _sort):
        tmp, repo = new_workspace(work, "capture")
        try:
            first_commit(repo)
            run([mlvc, "init"], repo)
            rows += build(repo, mlvc, python, log)
        finally:
            remove_tree(tmp)
    return rows


def _pipeline(repo: Path, mlvc: str, python: str, log: Callable[[str], None]) -> list[Row]:
    for path in EXAMPLE.iterdir():
        shutil.copy(path, repo / path.name)
    run([python, "make_raw.py"], repo)
    run(["git", "add", "-A"], repo)
    run([*GIT_COMMIT, "-qm", "example pipeline"], repo)
    run([mlvc, "add", "data/raw"], repo)
    stages = [[python, f"{stage}.py"] for stage in STAGES]
    return _workload("example pipeline, 4 stages", repo, mlvc, stages, log, len(stages))


def _cat_loop(repo: Path, mlvc: str, _python: str, log: Callable[[str], None]) -> list[Row]:
    files = repo / "files"
    files.mkdir()
    for i in range(CAT_FILES):
        (files / f"{i:04}.csv").write_text(f"{i},line\n")  # data, not a source file
    return _workload(f"{CAT_FILES:,} `cat` processes", repo, mlvc, [["sh", "-c", CAT_LOOP]], log)


def _sort(repo: Path, mlvc: str, _python: str, log: Callable[[str], None]) -> list[Row]:
    rng = random.Random(7)
    with open(repo / "big.txt", "w") as out:
        written = 0
        while written < SORT_BYTES:
            lines = (f"{rng.getrandbits(64):016x} {rng.random():.9f}\n" for _ in range(10000))
            chunk = "".join(lines)
            out.write(chunk)
            written += len(chunk)
    settle(repo / "big.txt", 3.0)
    return _workload("`sort` of 200 MB", repo, mlvc, [["sh", "-c", SORT]], log)


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    mlvc = str(root / ".venv" / "bin" / "mlvc")
    python = str(root / ".venv" / "bin" / "python")
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    rows = bench_capture(root / "benchmarks" / ".work", mlvc, python, log)
    print(plain_table(rows))
    return 1 if any(row.target and not row.target.check(row.mlvc, None) for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
