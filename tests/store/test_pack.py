"""`store/pack.py` directly: a pack reads back by its own table, is named after it, and
temporary packs of dead writers are reclaimed while a live writer's are kept."""

from __future__ import annotations

import itertools
import mmap
import os
import random
import subprocess
from pathlib import Path

import pytest

from mlvc.errors import CorruptPackError, NewerFormatError
from mlvc.ids import Kind, file_id
from mlvc.store import compress
from mlvc.store.pack import (
    ALIGN,
    ENTRY,
    FOOTER,
    HEADER,
    MAGIC,
    PackWriter,
    read_table,
    reclaim_temporary,
)
from mlvc.store.sink import copy_into
from tests.packv1 import as_version_1


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


def test_a_version_2_pack_holds_its_entries_back_to_back(tmp_path: Path) -> None:
    path, chunks = _pack(tmp_path, [b"first", b"second chunk", b"", b"fourth"])
    entries = read_table(path)
    assert path.read_bytes()[: HEADER.size] == HEADER.pack(MAGIC, 2, 0)
    assert entries[0].offset == HEADER.size
    for before, after in itertools.pairwise(entries):
        assert before.offset + before.stored_len == after.offset
    data = path.read_bytes()
    assert data[HEADER.size : entries[-1].offset + entries[-1].stored_len] == b"".join(chunks)


def test_a_version_1_pack_reads_back_by_its_table(tmp_path: Path) -> None:
    path, chunks = _pack(tmp_path, [b"first", b"second chunk" * 1000, b"third"])
    old = as_version_1(path)
    entries = read_table(old)
    data = old.read_bytes()
    assert data[: HEADER.size] == HEADER.pack(MAGIC, 1, 0)
    assert [data[e.offset : e.offset + e.stored_len] for e in entries] == chunks
    assert entries[0].offset == HEADER.size + ENTRY.size


@pytest.mark.parametrize("header, footer", [(1, 2), (2, 1), (3, 2), (2, 3), (0, 0)])
def test_a_pack_of_mixed_or_unknown_versions_is_refused(
    tmp_path: Path, header: int, footer: int
) -> None:
    path, _ = _pack(tmp_path, [b"some bytes"])
    data = bytearray(path.read_bytes())
    data[8:12] = header.to_bytes(4, "little")
    data[len(data) - FOOTER.size + 4 : len(data) - FOOTER.size + 8] = footer.to_bytes(4, "little")
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptPackError):
        read_table(path)


def test_a_pack_of_a_later_version_is_named_as_such_not_as_damage(tmp_path: Path) -> None:
    path, _ = _pack(tmp_path, [b"some bytes"])
    data = bytearray(path.read_bytes())
    data[8:12] = (3).to_bytes(4, "little")
    data[len(data) - FOOTER.size + 4 : len(data) - FOOTER.size + 8] = (3).to_bytes(4, "little")
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))
    with pytest.raises(NewerFormatError) as raised:
        read_table(path)
    assert not isinstance(raised.value, CorruptPackError)
    assert "pack version 3" in raised.value.message and raised.value.hint == (
        "upgrade mlvc (nothing was changed)"
    )


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


def test_chunks_added_in_bulk_read_back_and_stop_at_the_limit(tmp_path: Path) -> None:
    """`add_chunks` takes small entries and large ones (copied without the GIL, from
    writable views and from read-only bytes alike), stops once the pack holds `limit`
    bytes, and the pack reads back byte for byte."""
    rng = random.Random(5)
    chunks: list[bytes | memoryview] = [
        rng.randbytes(100),
        memoryview(bytearray(rng.randbytes(200_000))),  # a large writable view
        rng.randbytes(70_000),  # large, read-only
        memoryview(bytearray(rng.randbytes(9 << 20))),  # across a staging buffer's end
        rng.randbytes(5),
    ]
    rows = [(file_id(bytes(c)), int(compress.Codec.RAW), len(c), c) for c in chunks]
    writer = PackWriter(tmp_path, direct=True)
    assert writer.add_chunks(rows, limit=250_000) == 3  # it held 270,308 bytes then
    assert writer.add_chunks(rows[3:], limit=250_000) == 0
    assert writer.add_chunks(rows[3:], limit=1 << 30) == 2
    writer.seal()
    path = writer.publish()
    data = path.read_bytes()
    entries = read_table(path)
    assert [e.id for e in entries] == [row[0] for row in rows]
    for entry, chunk in zip(entries, chunks, strict=True):
        assert data[entry.offset : entry.offset + entry.stored_len] == bytes(chunk)


def test_a_copy_never_writes_past_its_buffer() -> None:
    buffer = mmap.mmap(-1, 1 << 20)
    big = memoryview(bytearray(b"z" * (64 << 10)))
    with pytest.raises(ValueError, match="overruns"):
        copy_into(buffer, (1 << 20) - 1000, big)
    copy_into(buffer, 4096, big)
    assert buffer[4096 : 4096 + len(big)] == bytes(big) and buffer[4095] == 0
    assert buffer[4096 + len(big)] == 0


def test_a_files_raw_chunks_sit_at_their_file_offsets_modulo_a_page(tmp_path: Path) -> None:
    """With their file offsets given, raw chunks are padded (with zeros, at most once per
    break in the file's run) to the same offset modulo ALIGN in the pack; compressed
    ones are not; the next chunk of the file follows with no padding."""
    rng = random.Random(7)
    sizes = [70_001, 65_536, 100_003]
    chunks = [rng.randbytes(n) for n in sizes]
    at = [5, 5 + sizes[0], 5 + sizes[0] + sizes[1]]
    squeezed = compress.compress(b"z" * 50_000)
    rows: list[tuple[bytes, int, int, bytes | memoryview]] = [
        (file_id(c), compress.Codec.RAW, len(c), c) for c in chunks
    ]
    rows.insert(1, (file_id(b"z" * 50_000), compress.Codec.ZSTD, 50_000, squeezed))
    positions = [at[0], 999, at[1], at[2]]
    writer = PackWriter(tmp_path)
    assert writer.add_chunks(rows, 1 << 30, positions) == 4
    writer.seal()
    path = writer.publish()
    entries = read_table(path)
    data = path.read_bytes()
    raw = [e for e in entries if e.codec == compress.Codec.RAW]
    assert [e.offset % ALIGN for e in raw] == [p % ALIGN for p in at]
    assert raw[0].offset == HEADER.size + (at[0] - HEADER.size) % ALIGN
    assert data[HEADER.size : raw[0].offset] == bytes(raw[0].offset - HEADER.size)
    packed = next(e for e in entries if e.codec == compress.Codec.ZSTD)
    assert packed.offset == raw[0].offset + raw[0].stored_len  # not padded
    assert raw[2].offset == raw[1].offset + raw[1].stored_len  # the file's next chunk
    for e, chunk in zip(raw, chunks, strict=True):
        assert data[e.offset : e.offset + e.stored_len] == chunk
