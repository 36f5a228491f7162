"""Cutting a large file in a forked child (`mlvc.store.cutter`): the same chunks as
cutting it here, every block taken in order; a child that dies, cannot read or is left
behind by an error here never changes what is stored."""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path
from typing import Any

import blake3
import pytest

from mlvc import forked
from mlvc.objects import Manifest
from mlvc.repo import Repo
from mlvc.store import cutter
from mlvc.store.chunker import Batch, ChunkParams, cut

PARAMS = ChunkParams(min_size=1024, avg_size=4096, max_size=16384)
BLOCK = 65536


def _file(tmp_path: Path, size: int, seed: int = 1) -> tuple[Path, bytes]:
    data = random.Random(seed).randbytes(size)
    path = tmp_path / f"data-{seed}.bin"
    path.write_bytes(data)
    return path, data


def _apart(path: Path) -> tuple[tuple[bytes, int] | None, list[bytes], list[int]]:
    """What `_cut_apart` returns, the chunks taken (checked against their ids), and the
    bytes reported to progress."""
    chunks: list[bytes] = []
    reported: list[int] = []

    def take(batch: Batch) -> None:
        for oid, view in batch:
            assert oid == blake3.blake3(view).digest()
            chunks.append(bytes(view))

    fd = os.open(path, os.O_RDONLY)
    try:
        found = cutter._cut_apart(fd, PARAMS, BLOCK, take, reported.append)
    finally:
        os.close(fd)
    return found, chunks, reported


def _children() -> set[str]:
    """This process's children, running or not yet reaped (their parent in /proc)."""
    me, found = str(os.getpid()), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            if stat.rpartition(")")[2].split()[1] == me:
                found.add(entry.name)
    return found


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_the_child_cuts_the_chunks_of_a_whole_cut(tmp_path: Path) -> None:
    """Many blocks, so that each of the three shared buffers is used again and again."""
    path, data = _file(tmp_path, 40 * BLOCK + 777)
    fds, children = _open_fds(), _children()
    found, chunks, reported = _apart(path)
    assert found == (blake3.blake3(data).digest(), len(data))
    assert chunks == cut(data, PARAMS)
    assert sum(reported) == len(data) and len(reported) == 41
    assert _open_fds() == fds and _children() == children


def test_a_file_of_exactly_whole_blocks_ends_with_an_empty_read(tmp_path: Path) -> None:
    path, data = _file(tmp_path, 8 * BLOCK, seed=2)
    found, chunks, _ = _apart(path)
    assert found == (blake3.blake3(data).digest(), len(data))
    assert chunks == cut(data, PARAMS)


def test_a_child_killed_part_way_leaves_the_file_to_be_cut_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child sends three blocks and is killed: `_cut_apart` says it did not cut the
    file, and `cut_and_take` starts again here from the start, after `restart`."""
    real = cutter._cut_blocks

    def dying(*args: Any) -> None:
        send = args[-1]
        sent = 0

        def counted(item: Any) -> None:
            nonlocal sent
            if sent == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            sent += 1
            send(item)

        real(*args[:-1], counted)

    monkeypatch.setattr(cutter, "_cut_blocks", dying)
    path, data = _file(tmp_path, 20 * BLOCK + 5, seed=3)
    children = _children()
    found, chunks, _ = _apart(path)
    assert found is None and 0 < len(chunks) < len(cut(data, PARAMS))
    assert _children() == children

    monkeypatch.setattr(cutter, "APART_MIN", 0)
    monkeypatch.setattr(cutter, "block_for", lambda size: BLOCK)
    taken: list[bytes] = []
    restarts: list[int] = []

    def restart() -> None:
        restarts.append(len(taken))
        taken.clear()

    with path.open("rb") as handle:
        oid, size = cutter.cut_and_take(
            handle,
            len(data),
            PARAMS,
            None,
            lambda batch: taken.extend(bytes(v) for _, v in batch),
            None,
            restart,
            compressed=False,
        )
    assert restarts and restarts[0] > 0  # blocks were taken before the child died
    assert taken == cut(data, PARAMS)
    assert (oid, size) == (blake3.blake3(data).digest(), len(data))


def test_a_file_the_child_cannot_read_is_left_to_this_process(tmp_path: Path) -> None:
    path, _ = _file(tmp_path, 4 * BLOCK, seed=4)
    children = _children()
    fd = os.open(path, os.O_WRONLY)  # readable by nobody: the child's reads fail
    try:
        taken: list[Batch] = []
        assert cutter._cut_apart(fd, PARAMS, BLOCK, taken.append, None) is None
    finally:
        os.close(fd)
    assert taken == [] and _children() == children


def test_an_error_here_stops_the_child_and_leaves_nothing_open(tmp_path: Path) -> None:
    path, _ = _file(tmp_path, 30 * BLOCK, seed=5)
    calls: list[int] = []

    def failing(batch: Batch) -> None:
        calls.append(len(batch))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")

    fds, children = _open_fds(), _children()
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(OSError, match="No space"):
            cutter._cut_apart(fd, PARAMS, BLOCK, failing, None)
    finally:
        os.close(fd)
    assert len(calls) == 2
    assert _open_fds() == fds and _children() == children


def test_a_store_cuts_a_large_file_in_a_child_and_reads_it_back(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through `ObjectStore.store_file`: the child is used (one fork), and the manifest
    lists the chunks of a whole cut with the store's own parameters."""
    monkeypatch.setattr(cutter, "APART_MIN", 0)
    monkeypatch.setattr(cutter, "block_for", lambda size: 1 << 20)
    forks: list[int] = []
    real = forked.stream

    def counted(*args: Any, **kwargs: Any) -> Any:
        forks.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(forked, "stream", counted)
    path, data = _file(tmp_path, (6 << 20) + 12345, seed=6)
    stored = repo.store.store_file(path)
    repo.store.commit()
    assert forks == [1]
    assert stored.id == blake3.blake3(data).digest() and stored.size == len(data)
    assert b"".join(repo.store.iter_file(stored.id)) == data
    _, raw = repo.store.get(stored.id)
    parts = list(repo.store.chunk_parts(Manifest.decode(raw, "manifest")))
    assert [p.length for p in parts] == [len(c) for c in cut(data, repo.store.params)]


def test_a_compressible_file_is_cut_here(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its chunks are compressed in this process, on both cores: a child would only add
    its own cost. It is stored whole and reads back all the same."""
    monkeypatch.setattr(cutter, "APART_MIN", 0)
    forks: list[int] = []
    real = forked.stream
    monkeypatch.setattr(forked, "stream", lambda *a, **k: forks.append(1) or real(*a, **k))
    rng = random.Random(7)
    data = b"".join(f"{i},{rng.random():.6f},cat{i % 7}\n".encode() for i in range(200_000))
    path = tmp_path / "table.csv"
    path.write_bytes(data)
    stored = repo.store.store_file(path)
    repo.store.commit()
    assert forks == [] and stored.id == blake3.blake3(data).digest()
    assert b"".join(repo.store.iter_file(stored.id)) == data
