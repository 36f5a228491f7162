"""A write that fails for lack of space: `error:` and exit 1, and the repository stays usable.

Two ways to run out: a file-size limit (RLIMIT_FSIZE with SIGXFSZ ignored, so writes fail
with EFBIG; portable, no privileges) and, where we are root and may mount, a real tmpfs
too small for the pack (ENOSPC).
"""

from __future__ import annotations

import os
from pathlib import Path

import blake3
import pytest

MIB = 1 << 20


def _assert_recovers(cli, workspace: Path, repo_dir: Path, store_tools, big: bytes) -> None:
    """After the failure: nothing half-written is referenced, no temp pack is left, and
    status and add work, the big file included, and read back exactly."""
    store_tools.assert_store_consistent(repo_dir)
    leftovers = [p.name for p in (repo_dir / "packs").glob("tmp-*")]
    assert not leftovers, f"a failed add left temporary packs: {leftovers}"
    (workspace / "small.txt").write_text("small\n")
    cli("add", "small.txt").ok()
    cli("add", "big").ok()
    assert cli("status").ok().stdout.startswith(b"clean: 2 tracked")
    assert cli("cat-object", blake3.blake3(big).hexdigest()).ok().stdout == big
    store_tools.assert_store_consistent(repo_dir)


@pytest.mark.parametrize(
    "size", [3 * MIB, 20 * MIB, 160 * MIB], ids=["one-buffer", "writer-thread", "cut-apart"]
)
def test_add_over_a_file_size_limit_fails_cleanly(
    repo, workspace: Path, cli, store_tools, size: int
) -> None:
    """3 MiB fits the pack writer's staging buffer (written at seal); 20 MiB goes through
    its background writer thread; 160 MiB is cut in a forked child (store/cutter.py) while
    this process writes the pack. All must surface as a clean error."""
    big = os.urandom(size)
    (workspace / "big").write_bytes(big)
    result = cli("add", "big", preexec_fn=store_tools.limit_file_size(1 * MIB))
    result.clean_error()
    assert "big" in result.stderr or "pack" in result.stderr, result.describe()
    _assert_recovers(cli, workspace, repo.dir, store_tools, big)


def test_add_on_a_full_device_fails_cleanly(repo, workspace: Path, cli, store_tools) -> None:
    packs = repo.dir / "packs"
    big = os.urandom(20 * MIB)  # more than the pack writer's buffer: its thread writes
    (workspace / "big").write_bytes(big)
    with store_tools.tmpfs(packs, "1m"):
        result = cli("add", "big").clean_error("no space left")
        assert result.stdout == b""
        store_tools.assert_store_consistent(repo.dir)
        assert not list(packs.glob("tmp-*")), "a failed add left temporary packs"
        # The device is still small, but a small file fits once the failed pack is gone.
        (workspace / "small.txt").write_text("small\n")
        cli("add", "small.txt").ok()
        assert cli("status").ok().stdout.startswith(b"clean: 1 tracked")
        small = cli("cat-object", blake3.blake3(b"small\n").hexdigest()).ok().stdout
        assert small == b"small\n"
        store_tools.assert_store_consistent(repo.dir)


def test_a_run_whose_log_cannot_be_written_still_drains_its_output(
    repo, workspace: Path, cli, store_tools
) -> None:
    """The command's output goes to the terminal and to a log in the spool. A log that
    stops taking writes (the disk fills while a long job prints) must not stop the
    output pump: a pipe nobody reads blocks the command for ever."""
    lines = 300_000  # ~2 MiB of output, twice the limit
    result = cli(
        "run", "--", "seq", "1", str(lines), timeout=60,
        preexec_fn=store_tools.limit_file_size(1 * MIB),
    )  # fmt: skip
    result.ok()
    assert result.stdout.splitlines() == [str(n).encode() for n in range(1, lines + 1)]
    assert cli("log", "--oneline").ok().stdout.count(b"seq 1") == 1
