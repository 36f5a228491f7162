"""Chunking: content-defined, independent of how the file is read."""

from __future__ import annotations

import io
import random
import threading
from typing import Any

import blake3
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlvc.objects import Part
from mlvc.store.chunker import (
    ChunkedRead,
    ChunkParams,
    Guide,
    _hash_parallel,
    cut,
    hash_file,
    take_behind,
)

PARAMS = ChunkParams(min_size=1024, avg_size=4096, max_size=16384)


def _stream(
    data: bytes, params: ChunkParams, block: int, guide: list[Part] | None = None
) -> tuple[list[bytes], bytes]:
    reader = ChunkedRead(params, block=block, guide=guide)
    chunks: list[bytes] = []
    ids: list[bytes] = []
    for batch in reader.batches(io.BytesIO(data)):
        for oid, view in batch:
            chunks.append(bytes(view))
            ids.append(oid)
    assert ids == [blake3.blake3(c).digest() for c in chunks]
    assert reader.file_id is not None
    return chunks, reader.file_id


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    size=st.integers(0, 200_000),
    block=st.sampled_from([16384, 20000, 65536, 1 << 20]),
)
def test_chunks_do_not_depend_on_read_block_size(seed: int, size: int, block: int) -> None:
    data = random.Random(seed).randbytes(size)
    chunks, whole = _stream(data, PARAMS, block)
    assert chunks == cut(data, PARAMS)
    assert b"".join(chunks) == data
    assert whole == blake3.blake3(data).digest()


def _parts(chunks: list[bytes]) -> list[Part]:
    return [Part(blake3.blake3(c).digest(), len(c)) for c in chunks]  # type: ignore[arg-type]


_EDITS = st.lists(
    st.tuples(
        st.sampled_from(["overwrite", "insert", "delete", "append", "truncate"]),
        st.floats(0, 1),
        st.integers(1, 20_000),
    ),
    max_size=4,
)


def _edited(data: bytes, edits: list[tuple[str, float, int]], rng: random.Random) -> bytes:
    for op, where, n in edits:
        at = int(where * len(data))
        if op == "overwrite":
            data = data[:at] + rng.randbytes(n) + data[at + n :]
        elif op == "insert":
            data = data[:at] + rng.randbytes(n) + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + n :]
        elif op == "append":
            data = data + rng.randbytes(n)
        else:
            data = data[: max(0, len(data) - n)]
    return data


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    size=st.integers(0, 300_000),
    edits=_EDITS,
    block=st.sampled_from([16384, 20000, 65536, 1 << 20]),
)
@example(  # the byte right after an unchanged chunk changed: that chunk's cut moves
    seed=23632972,
    size=112460,
    edits=[("append", 0.0, 20000), ("append", 0.0, 20000), ("overwrite", 0.6710238703947901, 1)],
    block=16384,
)
def test_cutting_along_the_old_chunks_gives_the_chunks_of_a_whole_cut(
    seed: int, size: int, edits: list[tuple[str, float, int]], block: int
) -> None:
    """Whatever the edits (in place, inserted, deleted, appended, cut short), and however
    the file is read, the chunks found with the old version's chunks as a guide are the
    chunks of cutting the new file whole."""
    rng = random.Random(seed)
    old = rng.randbytes(size)
    new = _edited(old, edits, rng)
    chunks, whole = _stream(new, PARAMS, block, guide=_parts(cut(old, PARAMS)))
    assert chunks == cut(new, PARAMS)
    assert whole == blake3.blake3(new).digest()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), size=st.integers(1, 200_000), wrong=st.integers(0, 10**6))
def test_a_guide_whose_chunks_are_not_there_only_costs_the_cutting(
    seed: int, size: int, wrong: int
) -> None:
    """Old chunk ids that do not match (another file's, or damaged) are never taken."""
    rng = random.Random(seed)
    data = rng.randbytes(size)
    guide = _parts(cut(data, PARAMS))
    bad = wrong % len(guide)
    guide[bad] = Part(blake3.blake3(b"not these bytes").digest(), guide[bad].length)  # type: ignore[arg-type]
    assert _stream(data, PARAMS, 65536, guide=guide)[0] == cut(data, PARAMS)
    other = _parts(cut(rng.randbytes(size), PARAMS))
    assert _stream(data, PARAMS, 65536, guide=other)[0] == cut(data, PARAMS)


@pytest.mark.parametrize("shift", [-1, 0, 1])
def test_a_byte_changed_at_an_old_cut_moves_that_cut_as_a_whole_cut_does(shift: int) -> None:
    """FastCDC's cut at offset c looks at the byte at c: a change there (or next to it)
    may move the cut before it, which checking the chunk before alone would miss."""
    old = random.Random(10).randbytes(200_000)
    chunks = cut(old, PARAMS)
    guide = _parts(chunks)
    at = 0
    for chunk in chunks[:-1]:
        at += len(chunk)
        new = bytearray(old)
        new[at + shift] ^= 0xFF
        assert _stream(bytes(new), PARAMS, 65536, guide=guide)[0] == cut(bytes(new), PARAMS)


def test_unchanged_chunks_are_checked_not_cut() -> None:
    """An edit in place: FastCDC runs only around the changed chunk."""
    old = random.Random(9).randbytes(600_000)
    new = bytearray(old)
    new[300_000] ^= 0xFF
    guide = _parts(cut(old, PARAMS))
    windows: list[int] = []

    class CountingCut:
        def __init__(self, cdc: Any) -> None:
            self.cdc = cdc

        def cut_buf(self, window: memoryview) -> Any:
            windows.append(len(window))
            return self.cdc.cut_buf(window)

    reader = ChunkedRead(PARAMS, block=1 << 20, guide=guide)
    assert isinstance(reader._guide, Guide)
    reader._guide._cdc = CountingCut(reader._guide._cdc)
    chunks = [bytes(v) for batch in reader.batches(io.BytesIO(bytes(new))) for _, v in batch]
    assert chunks == cut(bytes(new), PARAMS)
    # From the start of the chunk before the changed one (whose cut looked at the changed
    # chunk's first byte) to the first cut at an old chunk's start, then from there on.
    assert 1 <= len(windows) <= 2


def test_a_one_byte_edit_changes_few_chunks() -> None:
    data = bytearray(random.Random(7).randbytes(400_000))
    before = set(cut(bytes(data), PARAMS))
    data[200_000] ^= 0xFF
    after = cut(bytes(data), PARAMS)
    assert sum(1 for c in after if c not in before) <= 2


def test_an_insertion_resynchronises() -> None:
    data = random.Random(8).randbytes(400_000)
    before = set(cut(data, PARAMS))
    shifted = data[:1000] + b"inserted" + data[1000:]
    after = cut(shifted, PARAMS)
    assert sum(1 for c in after if c not in before) <= 3


def test_hash_file_matches_blake3(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "f.bin"
    for size in (0, 1, 65536, 3 * 65536 + 17):
        data = random.Random(size).randbytes(size)
        path.write_bytes(data)
        assert hash_file(path) == (blake3.blake3(data).digest(), size)


class _Watched(io.BytesIO):
    """Notes each read's start and end, and which thread made it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[tuple[str, str]] = []
        self.second = threading.Event()

    def readinto(self, buffer: Any) -> int:
        self.reads.append(("start", threading.current_thread().name))
        if len([r for r in self.reads if r[0] == "start"]) == 2:
            self.second.set()
        got = super().readinto(buffer)
        self.reads.append(("end", threading.current_thread().name))
        return got


def test_the_next_block_is_read_while_the_caller_stores_this_one() -> None:
    data = random.Random(9).randbytes(200_000)
    handle = _Watched(data)
    reader = ChunkedRead(PARAMS, block=65536)
    chunks = []
    for n, batch in enumerate(reader.batches(handle)):
        if n == 0:  # the second block's read was asked for before this batch came
            assert handle.second.wait(60)
        chunks += [bytes(view) for _, view in batch]
    assert b"".join(chunks) == data and chunks == cut(data, PARAMS)
    assert reader.file_id == blake3.blake3(data).digest()
    assert all(name.startswith("mlvc-hash") for _, name in handle.reads[2:])


def test_a_caller_that_stops_early_leaves_no_read_under_way() -> None:
    handle = _Watched(random.Random(10).randbytes(300_000))
    batches = ChunkedRead(PARAMS, block=65536).batches(handle)
    next(batches)
    batches.close()  # as a caller's error would
    assert handle.reads[-1][0] == "end"  # every read begun has ended
    handle.close()


def test_with_a_lag_a_batch_stays_whole_until_the_one_after_next_is_asked_for() -> None:
    """`batches(lag=1)`: batch n's bytes are intact while the caller still stores it,
    until it asks for batch n + 2; the chunks are those of a whole cut."""
    data = random.Random(11).randbytes(700_000)
    reader = ChunkedRead(PARAMS, block=65536)
    held: list[tuple[list[memoryview], list[bytes]]] = []
    chunks: list[bytes] = []
    for batch in reader.batches(io.BytesIO(data), lag=1):
        for views, copies in held[-1:]:  # batch n - 1, which the caller may still store
            assert [bytes(v) for v in views] == copies
        views = [view for _, view in batch]
        held.append((views, [bytes(v) for v in views]))
        chunks += held[-1][1]
    assert len(held) > 5
    assert chunks == cut(data, PARAMS) and reader.file_id == blake3.blake3(data).digest()


def test_take_behind_stores_every_batch_in_order_on_another_thread() -> None:
    data = random.Random(12).randbytes(500_000)
    reader = ChunkedRead(PARAMS, block=65536)
    taken: list[bytes] = []
    threads: set[str] = set()

    def take(batch: list[tuple[Any, memoryview]]) -> None:
        threads.add(threading.current_thread().name)
        taken.extend(bytes(view) for _, view in batch)

    take_behind(reader.batches(io.BytesIO(data), lag=1), take)
    assert taken == cut(data, PARAMS)
    assert threads == {"mlvc-store_0"}


def test_take_behind_raises_what_either_side_raised_and_leaves_no_read_under_way() -> None:
    def fail_third(batch: list[tuple[Any, memoryview]]) -> None:
        calls.append(len(batch))
        if len(calls) == 3:
            raise OSError(28, "No space left on device")

    calls: list[int] = []
    handle = _Watched(random.Random(13).randbytes(600_000))
    with pytest.raises(OSError, match="No space"):
        take_behind(ChunkedRead(PARAMS, block=65536).batches(handle, lag=1), fail_third)
    assert len(calls) == 3  # nothing taken after the failure
    assert handle.reads[-1][0] == "end"

    class Broken(io.BytesIO):
        def readinto(self, buffer: Any) -> int:
            if self.tell() >= 131072:
                raise OSError(5, "Input/output error")
            return super().readinto(buffer)

    taken: list[int] = []
    with pytest.raises(OSError, match="Input/output"):
        take_behind(
            ChunkedRead(PARAMS, block=65536).batches(Broken(bytes(400_000)), lag=1),
            lambda batch: taken.append(len(batch)),
        )
    assert taken  # the blocks read before the error were taken


def test_a_forked_child_hashes_on_a_pool_of_its_own() -> None:
    """The parent's pool has no threads in a forked child: work given to it there would
    wait forever. The child gets a new pool, and the parent keeps its own."""
    from mlvc import forked
    from mlvc.store import chunker

    views = [memoryview(random.Random(n).randbytes(5000)) for n in range(10)]
    parent_pool = chunker.pool()
    assert _hash_parallel(views) == [blake3.blake3(v).digest() for v in views]

    def there() -> list[bytes]:
        assert chunker._pool is None
        return [bytes(oid) for oid in _hash_parallel(views)]

    _, theirs = forked.share(lambda: None, there)
    assert theirs == [blake3.blake3(v).digest() for v in views]
    assert chunker.pool() is parent_pool
