"""Restoring a large file: verified, and in memory that does not grow with its size."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import blake3

from tests.conftest import MLVC, Run

MiB = 1 << 20
SPAWN = """
import os, sys
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_checkout_of_a_large_file_keeps_its_pages_out_of_resident_memory(
    mlvc: Run, workspace: Path
) -> None:
    """The restore writes from read-only maps of the packs; it lets go of each span's
    pages once written and hashed, so the peak RSS of `mlvc checkout` stays far under the
    file's size (it was the file's size plus the interpreter before)."""
    size = 256 * MiB
    big = workspace / "big.bin"
    with big.open("wb") as fh:
        for _ in range(size // (32 * MiB)):
            fh.write(os.urandom(32 * MiB))
    digest = blake3.blake3(big.read_bytes()).digest()
    mlvc("init")
    mlvc("add", "big.bin")
    big.unlink()
    # Spawned from a small process: an exec'd process's peak RSS starts at its parent's.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", SPAWN, MLVC, "checkout", "latest"],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=True,
    )
    peak = int(done.stdout.split()[-1]) * 1024
    assert blake3.blake3(big.read_bytes()).digest() == digest
    assert peak < 160 * MiB, f"peak RSS {peak // MiB} MiB for a {size // MiB} MiB file"
