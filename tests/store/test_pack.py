"""`store/pack.py` directly: a pack reads back by its own table, is named after it, and
temporary packs of dead writers are reclaimed while a live writer's are kept."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mlvc.errors import CorruptPackError
from mlvc.ids import Kind, file_id
from mlvc.store import compress
from mlvc.store.pack import PackWriter, read_table, reclaim_temporary


def _pack(directory: Path, chunks: list[bytes]) -> tuple[Path, list[bytes]]:
    writer = PackWriter(directory)
    for chunk in chunks:
        writer.add(file_id(chunk), Kind.CHUNK, compress.Codec.RAW, len(chunk), chunk)
    writer.seal()
    return writer.publish(), chunks


def test_a_pack_reads_back_by_its_table_and_is_named_after_it(tmp_path: Path) -> None:
    path, chunks = _pack(tmp_path, [b"first", b"second chunk", b""])
    entries = read_table(path)
    assert [e.id for e in entries] == [file_id(c) for c in chunks]
    data = path.read_bytes()
    for entry, chunk in zip(entries, chunks, strict=True):
        assert data[entry.offset : entry.offset + entry.stored_len] == chunk
        assert (entry.kind, entry.raw_len) == (Kind.CHUNK, len(chunk))
    assert path.name == f"{path.stem}.pack" and len(path.stem) == 64
    assert not list(tmp_path.glob("tmp-*")), "publish leaves no temporary file"


def test_the_same_entries_give_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, _ = _pack(tmp_path / "a", [b"x", b"y"])
    second, _ = _pack(tmp_path / "b", [b"x", b"y"])
    assert first.name == second.name


def test_a_truncated_pack_is_refused(tmp_path: Path) -> None:
    path, _ = _pack(tmp_path, [b"some bytes" * 100])
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 1)
    with pytest.raises(CorruptPackError):
        read_table(path)


def test_an_aborted_pack_leaves_nothing(tmp_path: Path) -> None:
    writer = PackWriter(tmp_path)
    writer.add(file_id(b"x"), Kind.CHUNK, compress.Codec.RAW, 1, b"x")
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_only_the_temporary_packs_of_dead_writers_are_reclaimed(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    mine = tmp_path / f"tmp-{os.getpid()}-aaaa.pack"
    orphan = tmp_path / f"tmp-{dead.pid}-bbbb.pack"
    odd = tmp_path / "tmp-notapid.pack"
    for path in (mine, orphan, odd):
        path.write_bytes(b"partial")
    published, _ = _pack(tmp_path, [b"kept"])
    assert reclaim_temporary(tmp_path) == [orphan.name]
    assert mine.exists() and odd.exists() and published.exists()
    assert not orphan.exists()
