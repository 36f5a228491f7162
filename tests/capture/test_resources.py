"""Machine description and resource usage measured from this process and a real child."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time

from mlvc.capture.resources import machine, usage
from mlvc.codec import encode

USAGE_KEYS = {
    "wall_seconds",
    "user_seconds",
    "system_seconds",
    "peak_rss_bytes",
    "major_page_faults",
    "block_input_ops",
    "block_output_ops",
    "voluntary_switches",
    "involuntary_switches",
}


def test_machine_describes_this_host() -> None:
    info = machine()
    assert set(info) == {"host", "cpu_model", "cpu_count", "cpu_affinity", "memory_bytes", "gpus"}
    assert info["host"] == socket.gethostname()
    assert info["cpu_count"] >= 1
    if hasattr(os, "sched_getaffinity"):
        assert 1 <= info["cpu_affinity"] <= info["cpu_count"]
    assert info["memory_bytes"] > 64 << 20
    assert info["cpu_model"] is None or info["cpu_model"].strip() == info["cpu_model"]
    assert isinstance(info["gpus"], list)
    encode(info)


def test_usage_of_this_process() -> None:
    measured = usage(1.25, resource.getrusage(resource.RUSAGE_SELF))
    assert set(measured) == USAGE_KEYS
    assert measured["wall_seconds"] == 1.25
    assert measured["user_seconds"] > 0
    # A Python interpreter with pytest loaded is well over 10 MiB resident.
    assert measured["peak_rss_bytes"] > 10 << 20
    encode(measured)


def test_usage_of_a_child_that_touches_64_mib() -> None:
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", "b = b'x' * (64 << 20)"])
    _, status, rusage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    measured = usage(time.monotonic() - started, rusage)
    assert child.returncode == 0
    assert measured["peak_rss_bytes"] >= 64 << 20
    # Less than 4 GiB: a unit mix-up (bytes taken as KiB) would overshoot by 1024x.
    assert measured["peak_rss_bytes"] < 4 << 30
    assert measured["wall_seconds"] > 0
    assert measured["user_seconds"] + measured["system_seconds"] > 0
