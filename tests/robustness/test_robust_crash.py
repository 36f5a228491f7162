"""A writer killed with SIGKILL mid-add leaves the repository usable and consistent."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import blake3

from mlvc.store.pack import read_table

MIB = 1 << 20


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # published (renamed) or aborted meanwhile
        return 0


def _children_of(pid: int) -> list[int]:
    """The live processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue  # ended meanwhile
            if fields[1] == str(pid) and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def stream_hash(cli, oid_hex: str) -> tuple[int, bytes, int, str]:
    """`mlvc cat-object`, hashed as it streams: (exit code, BLAKE3, byte count, stderr)."""
    proc = cli.popen("cat-object", oid_hex)
    hasher, total = blake3.blake3(), 0
    assert proc.stdout is not None and proc.stderr is not None
    while block := proc.stdout.read(4 * MIB):
        hasher.update(block)
        total += len(block)
    stderr = proc.stderr.read().decode(errors="replace")
    return proc.wait(timeout=120), hasher.digest(), total, stderr


def test_add_killed_while_writing_leaves_a_usable_repository(
    repo, workspace: Path, cli, store_tools
) -> None:
    size = 300 * MIB
    digest = store_tools.write_random(workspace / "big", size)
    packs = repo.dir / "packs"

    proc = cli.popen("add", "big", stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        partial = [p for p in packs.glob("tmp-*.pack") if _size(p) > 16 * MIB]
        if partial or proc.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.002)
    assert proc.poll() is None, "add finished before it could be killed; grow the file"
    assert partial, "add never started writing a pack"
    cutters = _children_of(proc.pid)  # the child cutting the file (store/cutter.py)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    proc.stderr.close()  # type: ignore[union-attr]
    assert cutters, "a file this large is cut in a forked child"
    deadline = time.monotonic() + 60
    while any(_alive(pid) for pid in cutters) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(_alive(pid) for pid in cutters), "the cutter outlived the killed add"

    # Nothing half-written is visible: every sealed pack reads, and the index only
    # names sealed packs whose tables agree with it (orphan tmp packs may remain).
    store_tools.assert_store_consistent(repo.dir)
    status = cli("status").ok()
    assert b"nothing tracked" in status.stdout

    added = cli("add", "big").ok()
    assert b"added" in added.stdout
    for pack in packs.glob("*.pack"):
        if not pack.name.startswith("tmp-"):
            assert read_table(pack)
    store_tools.assert_store_consistent(repo.dir)

    code, got, total, stderr = stream_hash(cli, digest.hex())
    assert (code, total) == (0, size), stderr
    assert got == digest
    clean = cli("status").ok()
    assert clean.stdout.startswith(b"clean: 1 tracked")
