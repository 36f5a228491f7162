"""Workspace paths mlvc cannot read: `error:` and exit 1, never a hang or a crash.

Root reads anything whatever its mode bits, so as root the unreadable-file tests run
`mlvc` with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped from its bounding set: still
uid 0 (owner of every file here), but bound by permission bits. FIFOs need no privileges.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import blake3
import pytest

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


@pytest.fixture
def unprivileged() -> Callable[[], None] | None:
    """A preexec_fn under which permission bits apply to the child, or None if they
    already do. Skips (the FIFO tests still cover unreadable input) if neither works."""
    if os.geteuid() != 0:
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def drop() -> None:
        for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
            if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                os._exit(97)

    probe = subprocess.run([sys.executable, "-c", ""], preexec_fn=drop, check=False)
    if probe.returncode != 0:
        pytest.skip("cannot drop CAP_DAC_OVERRIDE here; the FIFO tests cover unreadable input")
    return drop


@pytest.fixture
def locked(workspace: Path) -> Iterator[list[Path]]:
    """Paths a test makes unreadable; their modes are restored for cleanup."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        path.chmod(0o755)


def test_add_of_a_fifo_fails_fast(repo, workspace: Path, cli) -> None:
    """Opening a FIFO for reading blocks until a writer comes: `add` must refuse it."""
    os.mkfifo(workspace / "pipe")
    result = cli("add", "pipe", timeout=5).clean_error("pipe")
    assert result.stdout == b""
    assert b"nothing tracked" in cli("status").ok().stdout


def test_fifo_inside_an_added_directory_is_skipped(repo, workspace: Path, cli) -> None:
    (workspace / "d").mkdir()
    (workspace / "d" / "data.csv").write_text("a,b\n1,2\n")
    os.mkfifo(workspace / "d" / "pipe")
    cli("add", "d", timeout=30).ok()
    assert cli("status", timeout=30).ok().stdout.startswith(b"clean: 1 tracked")


def test_add_of_an_unreadable_file_is_an_error(
    repo, workspace: Path, cli, unprivileged, locked: list[Path]
) -> None:
    secret = workspace / "secret.bin"
    secret.write_bytes(b"top secret\n")
    secret.chmod(0)
    locked.append(secret)
    result = cli("add", "secret.bin", preexec_fn=unprivileged).clean_error("secret.bin")
    assert result.stdout == b""


def test_unreadable_file_inside_an_added_directory_is_an_error(
    repo, workspace: Path, cli, unprivileged, locked: list[Path], store_tools
) -> None:
    (workspace / "d").mkdir()
    (workspace / "d" / "a.txt").write_text("readable\n")
    secret = workspace / "d" / "z.txt"
    secret.write_text("unreadable\n")
    secret.chmod(0)
    locked.append(secret)
    cli("add", "d", preexec_fn=unprivileged).clean_error("z.txt")
    store_tools.assert_store_consistent(repo.dir)
    assert not list((repo.dir / "packs").glob("tmp-*"))


def test_unreadable_directory_inside_an_added_directory_is_an_error(
    repo, workspace: Path, cli, unprivileged, locked: list[Path]
) -> None:
    (workspace / "d" / "sealed").mkdir(parents=True)
    (workspace / "d" / "a.txt").write_text("readable\n")
    (workspace / "d" / "sealed" / "b.txt").write_text("behind a locked door\n")
    (workspace / "d" / "sealed").chmod(0)
    locked.append(workspace / "d" / "sealed")
    cli("add", "d", preexec_fn=unprivileged).clean_error("sealed")


def test_status_with_an_unreadable_directory_does_not_crash(
    repo, workspace: Path, cli, unprivileged, locked: list[Path]
) -> None:
    (workspace / "d").mkdir()
    (workspace / "d" / "a.txt").write_text("readable\n")
    cli("add", "d").ok()
    (workspace / "d" / "later").mkdir()
    (workspace / "d" / "later" / "new.txt").write_text("new\n")
    (workspace / "d" / "later").chmod(0)
    locked.append(workspace / "d" / "later")
    result = cli("status", preexec_fn=unprivileged)
    result.clean_error("cannot read directory d/later", "permission denied")
    assert result.stdout == b""


@pytest.fixture
def deep_dir(workspace: Path) -> Iterator[Path]:
    """An empty directory removed with `rm -rf` afterwards: Python 3.11's shutil.rmtree
    (and so pytest's temp-dir cleanup) recurses and cannot delete 1200 levels."""
    here = workspace / "deep"
    here.mkdir()
    yield here
    subprocess.run(["rm", "-rf", str(here)], check=True)


def test_add_of_a_very_deep_directory_does_not_crash(
    repo, workspace: Path, cli, deep_dir: Path
) -> None:
    """1200 nested directories: a legal path (2.4 KB) that a recursive walk cannot take
    with Python's default recursion limit. The walks are iterative: it is stored."""
    here = deep_dir
    fd = os.open(here, os.O_RDONLY)
    try:
        for _ in range(1200):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        leaf = os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"at the bottom\n")
        os.close(leaf)
    finally:
        os.close(fd)
    cli("add", "deep").ok()
    assert cli("status").ok().stdout.startswith(b"clean: 1 tracked")
    leaf = blake3.blake3(b"at the bottom\n").hexdigest()
    assert cli("cat-object", leaf).ok().stdout == b"at the bottom\n"
