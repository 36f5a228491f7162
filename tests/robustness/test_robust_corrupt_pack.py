"""Damaged packs: a flipped byte or a cut-short file must end in `error:` and exit 1.

Setup goes through the library (fast); every read under test is a real `mlvc`
subprocess, whose stdout is checked byte for byte: nothing unverified may reach it.
"""

from __future__ import annotations

import struct
from pathlib import Path

import blake3
import pytest
import zstandard

from mlvc.errors import CorruptObjectError, CorruptPackError
from mlvc.ids import Kind, file_id
from mlvc.porcelain.add import add as lib_add
from mlvc.repo import Repo
from mlvc.store import compress
from mlvc.store.fsutil import fsync_dir
from mlvc.store.pack import ENTRY, FOOTER, HEADER, ROW, PackWriter, read_table
from mlvc.store.restore import read_small
from tests.packv1 import as_version_1

OWNER = {"user": "robustness"}
MIB = 1 << 20


def noise(size: int, label: str) -> bytes:
    """Incompressible bytes, the same on every run (so is every outcome below)."""
    return blake3.blake3(label.encode()).digest(length=size)


def text_bytes(size: int, label: str = "text") -> bytes:
    """Compressible, non-repeating text (hex lines): stored with zstd, distinct chunks."""
    lines = noise(size // 2, label).hex()
    return "\n".join(lines[i : i + 63] for i in range(0, len(lines), 63)).encode()[:size]


def make(kind: str) -> bytes:
    size = 4096 if kind.startswith("small") else 3 * MIB
    return text_bytes(size, kind) if kind.endswith("text") else noise(size, kind)


def add_files(repo: Repo, workspace: Path, files: dict[str, bytes]) -> list[bytes]:
    """Write and `add` files; returns their ids in order."""
    for name, data in files.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    result = lib_add(repo, [Path(n) for n in files], workspace, OWNER)
    return [p.id for p in result.paths]


# -- a flipped byte inside stored data ------------------------------------------------


@pytest.mark.parametrize("kind", ["small-text", "small-random", "large-text", "large-random"])
def test_flipped_data_byte_is_reported_and_never_printed(
    repo: Repo, workspace: Path, cli, store_tools, kind: str
) -> None:
    data = make(kind)
    (fid,) = add_files(repo, workspace, {"f": data})
    assert fid == file_id(data)
    parts = store_tools.chunk_parts(repo, fid)
    if kind.startswith("large"):
        assert len(parts) > 8, "a 3 MiB file must be cut into many chunks"
    k = len(parts) // 2
    start = sum(p.length for p in parts[:k])
    victim = parts[k].id
    loc = repo.index.locate(victim)
    assert loc is not None
    expected = compress.Codec.ZSTD if kind.endswith("text") else compress.Codec.RAW
    assert loc.entry.codec == expected, "the test must exercise the codec it names"

    path, offset, stored = store_tools.pack_of(repo, victim)
    store_tools.flip_byte(path, offset + stored // 2)

    result = cli("cat-object", fid.hex()[:16]).clean_error("corrupt", victim.hex())
    # Only chunks before the damaged one may have been streamed, and only verbatim.
    assert data.startswith(result.stdout)
    assert len(result.stdout) <= start


def test_corruption_is_contained_to_the_damaged_object(
    repo: Repo, workspace: Path, cli, store_tools
) -> None:
    good, bad = noise(3 * MIB, "good"), noise(3 * MIB, "bad")
    good_id, bad_id = add_files(repo, workspace, {"good": good, "bad": bad})
    victim = store_tools.chunk_parts(repo, bad_id)[0].id
    path, offset, stored = store_tools.pack_of(repo, victim)
    assert path == store_tools.pack_of(repo, store_tools.chunk_parts(repo, good_id)[0].id)[0]
    store_tools.flip_byte(path, offset + stored - 1)

    cli("cat-object", bad_id.hex()).clean_error("corrupt", victim.hex())
    assert cli("cat-object", good_id.hex()).ok().stdout == good


@pytest.mark.parametrize("target", ["tree/ls-tree", "tree/cat-object", "run", "manifest"])
def test_flipped_metadata_byte_is_reported(
    repo: Repo, workspace: Path, cli, store_tools, target: str
) -> None:
    (workspace / "d").mkdir()
    (workspace / "d" / "a.csv").write_bytes(text_bytes(2000))
    big = noise(600 << 10, "big")  # more than one chunk: stored with a manifest
    (workspace / "d" / "b.bin").write_bytes(big)
    result = lib_add(repo, [Path("d")], workspace, OWNER)
    tree_id, run_id = result.paths[0].id, result.run_id
    assert run_id is not None
    victims = {
        "tree": (tree_id, Kind.TREE),
        "run": (run_id, Kind.RUN),
        "manifest": (file_id(big), Kind.MANIFEST),
    }
    victim, kind = victims[target.split("/")[0]]
    loc = repo.index.locate(victim)
    assert loc is not None and loc.entry.kind is kind

    path, offset, stored = store_tools.pack_of(repo, victim)
    store_tools.flip_byte(path, offset + stored // 2)

    command = "ls-tree" if target == "tree/ls-tree" else "cat-object"
    out = cli(command, victim.hex()).clean_error("corrupt", victim.hex())
    assert out.stdout == b""


def _structure_offsets(path: Path, data_offset: int) -> dict[str, int]:
    size = path.stat().st_size
    raw = path.read_bytes()
    _, _, count, table, _, _ = FOOTER.unpack(raw[size - FOOTER.size :])
    assert table + count * ROW.size + FOOTER.size == size
    return {
        "pack header": 2,
        "entry header": data_offset - ENTRY.size + 10,  # inside the entry's id
        "entry table": table + 5,
        "footer": size - FOOTER.size + 30,  # inside the table digest
    }


@pytest.mark.parametrize("region", ["pack header", "entry header", "entry table", "footer"])
def test_flipped_pack_structure_never_yields_wrong_bytes(
    repo: Repo, workspace: Path, cli, store_tools, region: str
) -> None:
    data = noise(4096, "structure")
    (fid,) = add_files(repo, workspace, {"f": data})
    path, offset, _ = store_tools.pack_of(repo, fid)
    if region == "entry header":  # only version-1 packs have them: an older store's
        path = as_version_1(path)
        cli("index", "rebuild").ok()
        (offset,) = (e.offset for e in read_table(path) if e.id == fid)
    store_tools.flip_byte(path, _structure_offsets(path, offset)[region])

    result = cli("cat-object", fid.hex())
    # The object's own bytes are intact and verified against the id: serving them is
    # correct; refusing with a clear error is too. Anything else is not.
    if result.returncode == 0:
        assert result.stdout == data
    else:
        result.clean_error()
        assert result.stdout == b""
    if region != "entry header":  # read_table verifies the header, table and footer
        with pytest.raises(CorruptPackError):
            read_table(path)


def _small_pack(directory: Path) -> Path:
    writer = PackWriter(directory)
    for i in range(3):
        chunk = noise(100 + i, f"entry {i}")
        writer.add(file_id(chunk), Kind.CHUNK, compress.Codec.RAW, len(chunk), chunk)
    writer.seal()
    return writer.publish()


def test_read_table_detects_any_flipped_header_table_or_footer_byte(
    tmp_path: Path, store_tools
) -> None:
    path = _small_pack(tmp_path)
    size = path.stat().st_size
    entries = read_table(path)
    table_start = size - FOOTER.size - len(entries) * ROW.size
    offsets = [*range(HEADER.size), *range(table_start, size)]
    undetected = []
    for offset in offsets:
        store_tools.flip_byte(path, offset)
        try:
            read_table(path)
        except CorruptPackError:
            pass
        else:
            undetected.append(offset)
        store_tools.flip_byte(path, offset)
    assert read_table(path) == entries
    where = [
        f"{o} ({'header' if o < HEADER.size else f'footer+{o - size + FOOTER.size}'})"
        for o in undetected
    ]
    assert not undetected, f"flips at these offsets of a {size}-byte pack pass: {where}"


# -- truncated and missing packs ------------------------------------------------------


def test_read_table_rejects_every_truncation_and_appended_bytes(
    tmp_path: Path, store_tools
) -> None:
    path = _small_pack(tmp_path)
    original = path.read_bytes()
    size = len(original)
    cuts = sorted(
        {0, 1, HEADER.size - 1, HEADER.size, HEADER.size + FOOTER.size - 1, size // 2}
        | {size - n for n in (1, 7, 8, FOOTER.size - 1, FOOTER.size, FOOTER.size + 1)}
        | {size - FOOTER.size - ROW.size}
    )
    for cut in cuts:
        store_tools.truncate(path, cut)
        with pytest.raises(CorruptPackError):
            read_table(path)
        path.chmod(0o644)
        path.write_bytes(original)
    path.write_bytes(original + b"\0" * 17)
    with pytest.raises(CorruptPackError):
        read_table(path)


@pytest.mark.parametrize("cut", ["inside a chunk", "after the header", "to zero bytes"])
def test_truncated_data_pack_is_reported(
    repo: Repo, workspace: Path, cli, store_tools, cut: str
) -> None:
    data = noise(3 * MIB, "truncated")
    (fid,) = add_files(repo, workspace, {"f": data})
    parts = store_tools.chunk_parts(repo, fid)
    k = len(parts) // 2
    path, offset, stored = store_tools.pack_of(repo, parts[k].id)
    size = {"inside a chunk": offset + stored // 2, "after the header": HEADER.size}.get(cut, 0)
    store_tools.truncate(path, size)
    with pytest.raises(CorruptPackError):
        read_table(path)

    # The damaged chunk is named: the first one when the data is all gone.
    victim = parts[k] if cut == "inside a chunk" else parts[0]
    result = cli("cat-object", fid.hex()).clean_error(victim.id.hex()[:12])
    assert any(w in result.stderr for w in ("truncated", "corrupt")), result.describe()
    assert data.startswith(result.stdout)
    limit = sum(p.length for p in parts[:k]) if cut == "inside a chunk" else 0
    assert len(result.stdout) <= limit


def test_truncated_metadata_pack_is_reported(repo: Repo, workspace: Path, cli, store_tools) -> None:
    (workspace / "d").mkdir()
    (workspace / "d" / "x").write_bytes(b"x")
    tree_id = lib_add(repo, [Path("d")], workspace, OWNER).paths[0].id
    path, offset, stored = store_tools.pack_of(repo, tree_id)
    store_tools.truncate(path, offset + stored - 1)

    result = cli("ls-tree", tree_id.hex()).clean_error()
    assert "truncated" in result.stderr or "corrupt" in result.stderr, result.describe()
    assert result.stdout == b""


def test_missing_pack_is_reported(repo: Repo, workspace: Path, cli, store_tools) -> None:
    (fid,) = add_files(repo, workspace, {"f": noise(1000, "missing")})
    path, _, _ = store_tools.pack_of(repo, fid)
    path.unlink()
    result = cli("cat-object", fid.hex()).clean_error("missing")
    assert result.stdout == b""


# -- decompression bombs --------------------------------------------------------------


def bomb_frame(declared: int) -> bytes:
    """A valid zstd frame of 1 MiB of zeros whose header claims `declared` bytes."""
    frame = zstandard.ZstdCompressor(write_content_size=True).compress(b"\0" * MIB)
    assert frame[4] == 0xA0, "expected a single-segment frame with a 4-byte content size"
    return frame[:4] + bytes([0xE0]) + struct.pack("<Q", declared) + frame[9:]


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(bomb_frame(1 << 40), id="claims-1TiB"),
        pytest.param(bomb_frame(1 << 62), id="claims-4EiB"),
        pytest.param(bomb_frame(0xFFFFFFFF), id="claims-4GiB"),
        pytest.param(
            zstandard.ZstdCompressor(write_content_size=False).compress(b"\0" * (8 * MIB)),
            id="no-size-8MiB",
        ),
    ],
)
def test_decompression_is_capped_at_the_declared_length(stored: bytes) -> None:
    with pytest.raises(CorruptObjectError):
        compress.decompress(stored, 100, "corrupt object x")


def test_decompression_bomb_in_a_pack_is_reported_not_a_crash(
    repo: Repo, workspace: Path, cli
) -> None:
    """A pack from an untrusted source whose zstd frame claims a terabyte."""
    content = b"tiny file content\n"
    oid = file_id(content)
    packs = repo.dir / "packs"
    writer = PackWriter(packs)
    writer.add(oid, Kind.CHUNK, compress.Codec.ZSTD, len(content), bomb_frame(1 << 40))
    name = writer.seal()
    writer.publish()
    fsync_dir(packs)
    repo.index.begin()
    repo.index.add_pack(name, writer.entries)
    repo.index.commit()

    result = cli("cat-object", oid.hex()).clean_error("corrupt", oid.hex())
    assert result.stdout == b""


# -- a checkout of many small files reads them a span at a time ----------------------


@pytest.mark.parametrize("damage", ["plain-flipped", "compressed-flipped", "pack-cut-short"])
def test_a_checkout_of_small_files_names_the_damaged_one_and_writes_none_of_it(
    repo: Repo, workspace: Path, cli, store_tools, damage: str
) -> None:
    """Small files are read from their pack a span at a time (`restore.read_small`): a
    plain chunk is checked by its length and id inline, a compressed one by its codec
    and id. Damage to either, or a pack cut short inside one, fails the checkout with
    the object named, and no damaged byte reaches the workspace."""
    label = "text" if damage == "compressed-flipped" else "random"
    files = {f"d/f{n:02}.bin": make(f"small-{label}") + bytes([n]) for n in range(12)}
    ids = dict(zip(files, add_files(repo, workspace, files), strict=True))
    damaged = "d/f06.bin"
    victim = ids[damaged]
    codec = repo.index.locate(victim).entry.codec
    assert codec == (compress.Codec.ZSTD if label == "text" else compress.Codec.RAW)
    path, offset, stored = store_tools.pack_of(repo, victim)
    if damage == "pack-cut-short":
        assert all(store_tools.pack_of(repo, oid)[0] == path for oid in ids.values())
        store_tools.truncate(path, offset + stored // 2)
    else:
        store_tools.flip_byte(path, offset + stored // 2)
    for name in files:
        (workspace / name).unlink()

    cli("checkout", "latest").clean_error(victim.hex()[:12])
    for name, data in files.items():  # what was written is whole; nothing else is there
        target = workspace / name
        assert not target.exists() or target.read_bytes() == data
    assert not (workspace / damaged).exists()


def test_a_small_file_stored_inside_another_entry_is_read_whole(
    repo: Repo, workspace: Path
) -> None:
    """A foreign or crafted pack may place one entry inside the bytes of another (each
    still hashes to its id). The span read for neighbours reaches the end of the longest
    of them: the outer entry was read cut at the inner one's end and called damaged."""
    inner = noise(4096, "inner")
    outer = noise(1000, "head") + inner + noise(1000, "tail")
    outer_id, inner_id = add_files(repo, workspace, {"outer.bin": outer, "inner.bin": inner})
    place = repo.index.locate(outer_id)
    assert place is not None and place.entry.codec == compress.Codec.RAW
    with repo.index.transaction():
        repo.index.db.execute(
            "UPDATE objects SET pack = (SELECT pack FROM objects WHERE id = ?), offset = ?"
            " WHERE id = ?",
            (outer_id, place.entry.offset + 1000, inner_id),
        )
    assert read_small(repo.store, [outer_id, inner_id]) == {outer_id: outer, inner_id: inner}
