"""Run one command and report its wall-clock time and peak RSS: ``python -I -S
bench_spawn.py REPORT -- ARGV...`` writes "SECONDS MAXRSS_KIB" to the file REPORT and exits
with the command's status (128 + N when killed by signal N).

Why a wrapper: Linux starts an exec'd process's ``ru_maxrss`` at the high-water RSS of the
address space it replaces, which for a command spawned straight from the harness (vfork,
then exec) is the harness's own peak: after hashing 2 GiB or building a history in-process
every command would seem to need that much. This small process spawns the command from
its own small address space, so the figure is the command's (floor: about 10 MiB, this
wrapper's). The clock runs here, around spawn and wait only, so Python's start-up of the
wrapper is not counted.
"""

import os
import sys
import time


def main() -> int:
    report, sep, *argv = sys.argv[1:]
    if sep != "--" or not argv:
        print("usage: bench_spawn.py REPORT -- ARGV...", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ)
    except OSError as exc:
        print(f"bench_spawn: cannot run {argv[0]}: {exc}", file=sys.stderr)
        return 127
    _pid, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    with open(report, "w", encoding="ascii") as fh:
        fh.write(f"{seconds:.6f} {usage.ru_maxrss}\n")
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
