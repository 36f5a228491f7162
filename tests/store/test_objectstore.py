"""The object store: round-trips, deduplication, verification, manifests."""

from __future__ import annotations

import os
import random
from pathlib import Path

import blake3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvc.errors import AmbiguousIdError, CorruptObjectError, InvalidIdError, ObjectNotFoundError
from mlvc.ids import Kind
from mlvc.objects import Manifest
from mlvc.repo import Repo
from mlvc.store import compress
from mlvc.store.ingest import encode_chunk


def _read(repo: Repo, oid: bytes) -> bytes:
    return b"".join(repo.store.iter_file(oid))


def _store_size(repo: Repo) -> int:
    return sum(p.stat().st_size for p in (repo.dir / "packs").iterdir())


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32), size=st.integers(0, 4 << 20), text=st.booleans())
def test_put_get_round_trip(repo: Repo, tmp_path: Path, seed: int, size: int, text: bool) -> None:
    rng = random.Random(seed)
    if text:
        data = (
            b"id,value,label\n"
            + b"".join(f"{i},{rng.random():.6f},cat{i % 7}\n".encode() for i in range(size // 24))
        )[:size]
    else:
        data = rng.randbytes(size)
    path = tmp_path / f"f-{seed}-{size}.bin"
    path.write_bytes(data)
    oid, stored_size = repo.store.put_file(path)
    repo.store.commit()
    assert oid == blake3.blake3(data).digest()
    assert stored_size == len(data)
    assert _read(repo, oid) == data


def test_same_content_is_stored_once(repo: Repo, workspace: Path) -> None:
    data = random.Random(1).randbytes(3 << 20)
    (workspace / "a.bin").write_bytes(data)
    first, _ = repo.store.put_file(workspace / "a.bin")
    repo.store.commit()
    size = _store_size(repo)
    (workspace / "b.bin").write_bytes(data)
    second, _ = repo.store.put_file(workspace / "b.bin")
    repo.store.commit()
    assert first == second
    assert _store_size(repo) == size


def test_a_one_byte_edit_stores_little(repo: Repo, workspace: Path) -> None:
    data = bytearray(random.Random(2).randbytes(48 << 20))
    path = workspace / "big.bin"
    path.write_bytes(data)
    first, _ = repo.store.put_file(path)
    repo.store.commit()
    before = _store_size(repo)
    data[len(data) // 2] ^= 1
    path.write_bytes(data)
    second, _ = repo.store.put_file(path)
    repo.store.commit()
    assert first != second
    assert _store_size(repo) - before < 1 << 20
    assert _read(repo, first) != _read(repo, second)
    assert _read(repo, second) == bytes(data)


def test_large_files_get_two_level_manifests(repo: Repo, workspace: Path) -> None:
    path = workspace / "big.bin"
    path.write_bytes(random.Random(3).randbytes(40 << 20))
    oid, _ = repo.store.put_file(path)
    repo.store.commit()
    kind, data = repo.store.get(oid)
    assert kind is Kind.MANIFEST
    assert Manifest.decode(data).level == 1


def test_csv_is_compressed_and_random_is_not(repo: Repo, workspace: Path) -> None:
    rng = random.Random(4)
    csv = b"".join(f"{i},{rng.random():.6f},label{i % 13}\n".encode() for i in range(200_000))
    (workspace / "t.csv").write_bytes(csv)
    repo.store.put_file(workspace / "t.csv")
    repo.store.commit()
    assert _store_size(repo) < len(csv) / 2
    before = _store_size(repo)
    noise = rng.randbytes(4 << 20)
    (workspace / "n.bin").write_bytes(noise)
    repo.store.put_file(workspace / "n.bin")
    repo.store.commit()
    assert _store_size(repo) - before >= len(noise)


def test_a_flipped_byte_is_reported_as_corrupt(repo: Repo, workspace: Path) -> None:
    data = random.Random(5).randbytes(1 << 20)
    (workspace / "x.bin").write_bytes(data)
    oid, _ = repo.store.put_file(workspace / "x.bin")
    repo.store.commit()
    kind, manifest = repo.store.get(oid)
    assert kind is Kind.MANIFEST
    chunk = Manifest.decode(manifest).parts[0].id
    loc = repo.index.locate(chunk)
    assert loc is not None
    pack = repo.dir / "packs" / f"{loc.pack}.pack"
    os.chmod(pack, 0o644)
    with open(pack, "r+b") as handle:
        handle.seek(loc.entry.offset + 10)
        byte = handle.read(1)
        handle.seek(loc.entry.offset + 10)
        handle.write(bytes([byte[0] ^ 0x40]))
    with pytest.raises(CorruptObjectError, match=chunk.hex()):
        _read(repo, oid)


def test_unknown_and_ambiguous_ids(repo: Repo) -> None:
    with pytest.raises(ObjectNotFoundError):
        repo.store.resolve("abcdef")
    with pytest.raises(InvalidIdError):
        repo.store.resolve("abc")
    with pytest.raises(InvalidIdError):
        repo.store.resolve("xyz123")
    ids = [repo.store.put_bytes(str(i).encode()).hex() for i in range(2000)]
    repo.store.commit()
    groups: dict[str, list[str]] = {}
    for h in ids:
        groups.setdefault(h[:4], []).append(h)
    shared, group = next((p, g) for p, g in groups.items() if len(g) > 1)
    with pytest.raises(AmbiguousIdError) as caught:
        repo.store.resolve(shared)
    assert sorted(caught.value.candidates) == sorted(group)
    assert repo.store.resolve(group[0][:12]).hex() == group[0]


def test_temporary_packs_of_dead_writers_are_reclaimed(repo: Repo, workspace: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    orphan = repo.dir / "packs" / f"tmp-{dead.stdout.strip()}-abcdef012345.pack"
    orphan.write_bytes(b"half a pack")
    mine = repo.dir / "packs" / f"tmp-{os.getpid()}-abcdef012345.pack"
    mine.write_bytes(b"still being written")
    (workspace / "f.bin").write_bytes(b"x" * 100)
    repo.store.put_file(workspace / "f.bin")
    repo.store.commit()
    assert not orphan.exists()
    assert mine.exists()
    mine.unlink()


def test_a_re_add_is_cut_along_the_file_s_previous_version(
    repo: Repo, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`add` of a changed file hands the chunks it held before (its stat-cache row) to the
    chunker as a guide; the chunks stored are those of cutting the new file whole."""
    from mlvc.porcelain.add import add
    from mlvc.store import chunker

    rng = random.Random(11)
    data = bytearray(rng.randbytes(6 << 20))
    path = workspace / "model.bin"
    path.write_bytes(data)
    add(repo, [Path("model.bin")], workspace, {"user": "test"})
    old_parts = len(
        list(
            repo.store.chunk_parts(Manifest.decode(repo.store.get(blake3.blake3(data).digest())[1]))
        )
    )
    guides: list[int] = []
    real_init = chunker.Guide.__init__

    def counting(self: chunker.Guide, parts: object, *args: object) -> None:
        guides.append(len(parts))  # type: ignore[arg-type]
        real_init(self, parts, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(chunker.Guide, "__init__", counting)
    data[len(data) // 3] ^= 0xFF  # an edit in place
    data += rng.randbytes(1 << 20)  # and an append
    path.write_bytes(data)
    add(repo, [Path("model.bin")], workspace, {"user": "test"})
    assert guides == [old_parts]
    kind, manifest = repo.store.get(blake3.blake3(data).digest())
    assert kind is Kind.MANIFEST
    parts = list(repo.store.chunk_parts(Manifest.decode(manifest)))
    whole = chunker.cut(bytes(data), repo.store.params)
    assert [(p.id, p.length) for p in parts] == [(blake3.blake3(c).digest(), len(c)) for c in whole]
    assert _read(repo, blake3.blake3(data).digest()) == bytes(data)


def test_a_re_add_whose_old_version_is_damaged_cuts_the_file_whole(
    repo: Repo, workspace: Path
) -> None:
    """The old chunks are only a guide: a damaged or missing old manifest never stops the
    add of the new version, which is cut whole."""
    from mlvc.porcelain.add import add
    from mlvc.store import chunker

    rng = random.Random(12)
    data = bytearray(rng.randbytes(3 << 20))
    path = workspace / "model.bin"
    path.write_bytes(data)
    add(repo, [Path("model.bin")], workspace, {"user": "test"})
    spot = repo.store.locate(blake3.blake3(data).digest())
    pack = repo.dir / "packs" / f"{spot.pack}.pack"
    pack.chmod(0o644)
    with open(pack, "r+b") as handle:  # the old manifest's bytes, damaged
        handle.seek(spot.entry.offset + spot.entry.stored_len // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    data[1000] ^= 0xFF
    path.write_bytes(data)
    add(repo, [Path("model.bin")], workspace, {"user": "test"})
    _, manifest = repo.store.get(blake3.blake3(data).digest())
    parts = list(repo.store.chunk_parts(Manifest.decode(manifest)))
    whole = chunker.cut(bytes(data), repo.store.params)
    assert [p.length for p in parts] == [len(c) for c in whole]
    assert _read(repo, blake3.blake3(data).digest()) == bytes(data)


def _rows(count: int, tail: bytes) -> bytes:
    return b"row,%d,%s\n" % (count, tail) * (count % 300 + 1)


def _noise(seed: int) -> bytes:
    rng = random.Random(seed)
    return rng.randbytes(rng.randint(1, 20000))


@given(
    st.one_of(
        st.binary(max_size=200),
        st.builds(_rows, st.integers(0, 10**6), st.binary(max_size=8)),
        st.integers(0, 2**32 - 1).map(_noise),
    )
)
@settings(max_examples=200, deadline=None)
def test_a_small_content_is_compressed_once_with_the_same_result(data: bytes) -> None:
    """A content no larger than a sample is its own sample: compressed once, and stored
    as the decision by sample and a second compression would have stored it."""
    packed = compress.worth_compressing([data[: compress.SAMPLE]])
    before = compress.smaller(data, compress.compress(data) if packed else None)
    codec, stored = encode_chunk(data)
    assert (codec, stored) == before
    if codec == compress.Codec.ZSTD:
        assert compress.decompress(stored, len(data), "chunk") == data
    else:
        assert stored == data


def test_a_log_or_patch_is_stored_compressed_when_that_pays(repo: Repo) -> None:
    """`put_bytes` decides as `add` does for a small file: a log of repeated lines is
    stored as zstd, random bytes raw; both read back whole."""
    log = b"".join(b"epoch %d loss 0.%04d\n" % (i, i * 37 % 10000) for i in range(3000))
    noise = random.Random(7).randbytes(50_000)
    for data, codec in ((log, compress.Codec.ZSTD), (noise, compress.Codec.RAW)):
        oid = repo.store.put_bytes(data)
        repo.store.commit()
        entry = repo.store.locate(oid).entry
        assert (entry.codec, entry.raw_len) == (codec, len(data))
        assert (entry.stored_len < len(data) // 2) == (codec == compress.Codec.ZSTD)
        assert repo.store.get(oid) == (Kind.CHUNK, data)
