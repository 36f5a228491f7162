"""The machine a run used and what it consumed: host, CPU, memory, GPUs, time, peak RSS."""

from __future__ import annotations

import functools
import os
import platform
import sys
from typing import TYPE_CHECKING, Any

from mlvc.capture.environment import gpus
from mlvc.capture.owner import host_name

if TYPE_CHECKING:
    import resource


def machine() -> dict[str, Any]:
    """Host name, CPU model and counts, physical memory and GPUs of this machine."""
    return {
        "host": host_name(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": _cpu_affinity(),
        "memory_bytes": _memory_bytes(),
        "gpus": gpus(),
    }


@functools.lru_cache(maxsize=1)
def _cpu_model() -> str | None:
    # Stop at the first "model name": on a many-core host /proc/cpuinfo is hundreds of KiB.
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    # platform.processor() may run `uname -p`, so it is only the fallback.
    fallback = platform.processor().strip()
    return fallback if fallback and fallback != "unknown" else None


def _cpu_affinity() -> int | None:
    """CPUs this process may run on: fewer than cpu_count under taskset, cgroups or SLURM."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return len(os.sched_getaffinity(0))


@functools.lru_cache(maxsize=1)
def _memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
            for line in f:
                fields = line.split()
                if fields[:1] == ["MemTotal:"] and len(fields) >= 2 and fields[1].isdigit():
                    return int(fields[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None


def usage(wall_seconds: float, rusage: resource.struct_rusage) -> dict[str, Any]:
    """Measured consumption from `getrusage` or `os.wait4`.

    For RUSAGE_CHILDREN, times add up over all waited-for descendants but the peak RSS
    is that of the largest single one, not a sum.
    """
    # ru_maxrss is KiB on Linux and the BSDs, bytes on macOS.
    rss_unit = 1 if sys.platform == "darwin" else 1024
    return {
        "wall_seconds": round(wall_seconds, 6),
        "user_seconds": round(rusage.ru_utime, 6),
        "system_seconds": round(rusage.ru_stime, 6),
        "peak_rss_bytes": rusage.ru_maxrss * rss_unit,
        # Major faults mean pages came from disk (swap or a cold mmap); block counts are
        # 512-byte filesystem operations that missed the page cache.
        "major_page_faults": rusage.ru_majflt,
        "block_input_ops": rusage.ru_inblock,
        "block_output_ops": rusage.ru_oublock,
        "voluntary_switches": rusage.ru_nvcsw,
        "involuntary_switches": rusage.ru_nivcsw,
    }
