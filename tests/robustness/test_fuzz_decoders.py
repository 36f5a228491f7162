"""Hypothesis over every decoder of bytes mlvc did not just write itself: pack trailers and
tables, pack entries, metadata objects, canonical msgpack, the config, tag files and tag
logs, and remote run lists.

The property: whatever the input, a decoder returns or raises an `MlvcError` subclass,
never anything else, and never allocates much more than its input's size (a declared
length is checked before anything of that length is made). Inputs are random bytes and,
more usefully, valid encodings with bytes flipped, cut off, added or replaced, and valid
structures with fields replaced, re-encoded so they get past the outer checks. The
whole module stays well under 15 s: each property has a small `max_examples`
(MLVC_FUZZ_EXAMPLES raises it).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import blake3
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlvc import codec, config
from mlvc.errors import MlvcError
from mlvc.ids import Kind, ObjectId, file_id, object_id
from mlvc.objects import Manifest, ManifestNode, Part, PathRecord, Run, Tree, TreeEntry
from mlvc.store import compress, verify
from mlvc.store.chunker import ChunkedRead
from mlvc.store.pack import (
    END,
    FOOTER,
    FOOTER_MAGIC,
    ROW,
    VERSION,
    PackWriter,
    parse_trailer,
    read_table,
    read_trailer,
)
from mlvc.store.refs import TagMove, Tags, tag_move_from_json, tag_move_json
from mlvc.store.remote import _parse_run_list

# MLVC_FUZZ_EXAMPLES=5000 for a long hunt; the default keeps the module to a few seconds.
FUZZ = settings(
    max_examples=int(os.environ.get("MLVC_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# What a decoder may allocate beyond its input: the Python objects it returns and its
# working buffers, but never anything the size of a declared length.
ALLOWANCE = 16 << 20
PER_INPUT_BYTE = 64

OID = ObjectId(bytes(range(32)))


@pytest.fixture(scope="module", autouse=True)
def _traced() -> Iterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


@contextlib.contextmanager
def bounded(size: int) -> Iterator[None]:
    """The block raises nothing but MlvcError, and allocates (at its peak) no more than
    ALLOWANCE plus PER_INPUT_BYTE per byte of input."""
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    with contextlib.suppress(MlvcError):
        yield
    grown = tracemalloc.get_traced_memory()[1] - before
    assert grown <= ALLOWANCE + PER_INPUT_BYTE * size, f"allocated {grown} bytes"


def decodes(decoder: Callable[..., Any], data: bytes | str, *args: Any) -> None:
    with bounded(len(data)):
        decoder(data, *args)


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """`valid` with one to four bytes flipped, cuts, additions or replaced runs."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "extend", "splice"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif op == "cut":
            data = data[:at] if draw(st.booleans()) else data[at:]
        elif op == "extend":
            data += draw(st.binary(max_size=64))
        else:
            data[at : at + draw(st.integers(0, 16))] = draw(st.binary(max_size=16))
    return bytes(data)


def inputs(valid: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=512), mutated(valid))


# -- valid encodings to start from -----------------------------------------------------

RUN = Run(
    kind="run",
    started="2026-01-01T00:00:00Z",
    ended="2026-01-01T00:00:01Z",
    status="ok",
    command=("python", "train.py"),
    exit_code=0,
    inputs={"data/x.csv": PathRecord(OID, "file", 10, OID)},
    outputs={
        "model": PathRecord(OID, "tree", 20),
        "run.sh": PathRecord(OID, "file", 1, None, True),
    },
    code={"toplevel": ".", "scripts": {"train.py": OID}},
    params={"lr": 0.1, "layers": [1, 2]},
    metrics={"acc": 0.9},
    removed=("old.txt",),
    message="m",
    tags=("t",),
)
TREE = Tree(
    (
        TreeEntry("a.txt", "file", False, 3, OID),
        TreeEntry("b", "tree", False, 9, OID),
        TreeEntry("l", "symlink", False, 1, OID),
    )
)
PARTS = (Part(OID, 5), Part(ObjectId(bytes(32)), 7))
MANIFEST = Manifest(12, 0, PARTS)
NODE = ManifestNode(PARTS)
DECODERS: dict[str, tuple[Callable[[bytes, str], Any], bytes]] = {
    "run": (Run.decode, RUN.encode()),
    "tree": (Tree.decode, TREE.encode()),
    "manifest": (Manifest.decode, MANIFEST.encode()),
    "manifest-node": (ManifestNode.decode, NODE.encode()),
    "msgpack": (codec.decode, RUN.encode()),
}


def real_pack(directory: Path) -> Path:
    """A sealed pack of a raw chunk, a compressed chunk, a run and a tree."""
    writer = PackWriter(directory)
    chunk = b"0123456789" * 50
    writer.add(file_id(chunk), Kind.CHUNK, compress.Codec.RAW, len(chunk), chunk)
    text = b"a compressible line\n" * 200
    writer.add(file_id(text), Kind.CHUNK, compress.Codec.ZSTD, len(text), compress.compress(text))
    for kind, raw in ((Kind.RUN, RUN.encode()), (Kind.TREE, TREE.encode())):
        writer.add(
            object_id(kind, raw), kind, compress.Codec.ZSTD, len(raw), compress.compress(raw)
        )
    writer.seal()
    return writer.publish()


PACK_DIR = Path(tempfile.mkdtemp(prefix="mlvc-fuzz-"))
PACK = real_pack(PACK_DIR)
PACK_BYTES = PACK.read_bytes()
TRAILER = read_trailer(PACK)
ENTRIES = read_table(PACK)


# -- packs -------------------------------------------------------------------------------


@FUZZ
@given(trailer=inputs(TRAILER), whole=st.booleans())
def test_parse_trailer(trailer: bytes, whole: bool) -> None:
    """Against the pack's real name, and as a temporary pack (no name to match)."""
    for name in (PACK.stem, "tmp-1-fuzz"):
        with bounded(len(trailer)):
            for e in parse_trailer("pack fuzz", name, trailer, whole=whole):
                assert isinstance(e.kind, Kind)


ROWS = st.tuples(
    st.binary(min_size=32, max_size=32),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.binary(min_size=8, max_size=8),
)


@FUZZ
@given(
    rows=st.lists(ROWS, max_size=8),
    offset=st.integers(0, 2**64 - 1),
    count_delta=st.sampled_from([0, 0, 0, 1, -1, 2**40]),
)
def test_parse_trailer_rows(rows: list[tuple[Any, ...]], offset: int, count_delta: int) -> None:
    """Tables whose digest and name are right, so that every row is looked at: an entry
    outside the data, an unknown kind, a count that disagrees with the length."""
    table = b"".join(ROW.pack(*row) for row in rows)
    digest = blake3.blake3(table).digest()
    count = max(len(rows) + count_delta, 0) % 2**64
    trailer = table + FOOTER.pack(FOOTER_MAGIC, VERSION, count, offset, digest, END)
    with bounded(len(trailer)):
        for e in parse_trailer("pack fuzz", digest.hex(), trailer):
            assert e.offset + e.stored_len <= offset


@FUZZ
@given(data=mutated(PACK_BYTES))
def test_read_table_of_a_damaged_pack_file(data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=PACK_DIR, suffix=".pack") as handle:
        handle.write(data)
        handle.flush()
        path = Path(handle.name)
        with bounded(len(data)):
            read_table(path)


STORED = {e.id: PACK_BYTES[e.offset : e.offset + e.stored_len] for e in ENTRIES}


@FUZZ
@given(
    index=st.integers(0, len(ENTRIES) - 1),
    stored=st.data(),
    codec_no=st.sampled_from([0, 1, 1, 2, 255]),
    raw_len=st.one_of(st.none(), st.integers(0, 2**64 - 1), st.sampled_from([2**30, 2**62])),
    kind=st.sampled_from(list(Kind)),
)
def test_unpack_check_id_and_schema(
    index: int,
    stored: st.DataObject,
    codec_no: int,
    raw_len: int | None,
    kind: Kind,
) -> None:
    """A real entry's stored bytes damaged, its table row changed (codec, declared raw
    length, kind): unpacked, checked against its id, decoded under its kind's schema."""
    real = ENTRIES[index]
    data = stored.draw(mutated(STORED[real.id]))
    e = real._replace(
        codec=codec_no, raw_len=real.raw_len if raw_len is None else raw_len, kind=kind
    )
    e = e._replace(stored_len=len(data), check=blake3.blake3(data).digest()[:8])
    with bounded(len(data)):
        raw = verify.unpack(e, data, "pack fuzz", "hint")
        verify.check_id(e.id, e.kind, raw, "pack fuzz", "hint")
        verify.check_schema(e.id, e.kind, raw, "pack fuzz")


@FUZZ
@given(declared=st.integers(0, 2**64 - 1), size_bytes=st.sampled_from([1, 2, 4, 8]))
@example(declared=1 << 40, size_bytes=8)  # was a MemoryError (exit 3)
@example(declared=16 << 30, size_bytes=8)  # was a 16 GiB allocation
def test_decompress_never_allocates_a_declared_length(declared: int, size_bytes: int) -> None:
    """A zstd frame whose header declares `declared` bytes, with an entry that agrees:
    refused unless a frame of its size could hold that much."""
    frame = compress.compress(b"x" * 1000)
    body = frame[4 + 1 + 2 :]  # after the magic, the descriptor and the 2-byte size
    flag = {1: 0x20, 2: 0x60, 4: 0xA0, 8: 0xE0}[size_bytes]
    shown = declared - 256 if size_bytes == 2 else declared
    if not 0 <= shown < 2 ** (8 * size_bytes):
        return
    header = b"\x28\xb5\x2f\xfd" + bytes([flag]) + shown.to_bytes(size_bytes, "little")
    data = header + body
    with bounded(len(data)):
        out = compress.decompress(data, declared, "fuzz")
        assert len(out) == declared


# -- metadata objects ---------------------------------------------------------------------


@FUZZ
@given(name=st.sampled_from(sorted(DECODERS)), data=st.data())
def test_object_decoders(name: str, data: st.DataObject) -> None:
    decoder, valid = DECODERS[name]
    decodes(decoder, data.draw(inputs(valid), label="bytes"), f"{name} fuzz")


VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def replaced(value: Any, path: list[Any], new: Any) -> Any:
    """`value` with the field at `path` (keys and indexes) set to `new`."""
    if not path:
        return new
    if isinstance(value, dict):
        if not value:
            return {str(path[0]): replaced(None, path[1:], new)}
        key = path[0] if path[0] in value else sorted(value)[hash(path[0]) % len(value)]
        return {**value, key: replaced(value[key], path[1:], new)}
    if isinstance(value, list) and value:
        index = path[0] % len(value) if isinstance(path[0], int) else 0
        return [*value[:index], replaced(value[index], path[1:], new), *value[index + 1 :]]
    return new


STRUCTURES = {
    "run": (Run.decode, RUN.to_value()),
    "tree": (Tree.decode, codec.decode(TREE.encode(), "tree")),
    "manifest": (Manifest.decode, codec.decode(MANIFEST.encode(), "manifest")),
    "manifest-node": (ManifestNode.decode, codec.decode(NODE.encode(), "node")),
}


@FUZZ
@given(
    name=st.sampled_from(sorted(STRUCTURES)),
    path=st.lists(st.one_of(st.integers(0, 8), st.text(max_size=12)), min_size=1, max_size=4),
    new=VALUES,
)
def test_object_fields_replaced(name: str, path: list[Any], new: Any) -> None:
    """Canonical encodings with one field (at any depth) replaced by any value: they
    pass the msgpack checks, so the schema checks are what is fuzzed."""
    decoder, value = STRUCTURES[name]
    try:
        data = codec.encode(replaced(value, path, new))
    except (TypeError, ValueError):
        return  # not encodable canonically (a float that is not one, a deep nest)
    decodes(decoder, data, f"{name} fuzz")


# -- config --------------------------------------------------------------------------------

CONFIG_TEXT = config.Config(
    config.FORMAT,
    config.ChunkParams(),
    config.SecretRules(("*key*",), ("conf/prod/*",)),
    (config.RemoteConfig("origin", "s3://bucket/x", True, (("client_kwargs.region_name", "x"),)),),
).render()
TOML_VALUES = st.sampled_from(
    [
        "1",
        "-1",
        "0",
        "64",
        "1024",
        "1073741824",
        "18446744073709551616",
        "99999999999999999999",
        "1.5",
        "true",
        '"x"',
        "[]",
        "[1, [2]]",
        "{}",
        "{ a = 1 }",
        "1979-05-27",
        "[" * 5000 + "]" * 5000,
        '"\\u0000"',
        "nan",
    ]
)
LINES = [
    "",
    "[core]",
    "[chunking]",
    "chunking = 1",
    "core = []",
    "[remote]",
    "[remote.x]",
    "[secrets]",
]


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    """The valid config with one to three lines' values (or the lines) replaced."""
    lines = CONFIG_TEXT.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(lines) - 1))
        key, sep, _ = lines[at].partition(" = ")
        if sep and draw(st.booleans()):
            lines[at] = f"{key} = {draw(TOML_VALUES)}"
        else:
            lines[at] = draw(st.sampled_from(LINES))
    return "\n".join(lines) + "\n"


@FUZZ
@given(text=st.one_of(config_texts(), st.text(max_size=200), mutated(CONFIG_TEXT.encode())))
@example(text="chunking = 1\n[core]\nformat = 1\n")  # was an AttributeError
@example(text=CONFIG_TEXT.replace("min_size = 16384", "min_size = 0"))  # crashed `add`
@example(text=f"x = {'[' * 5000}{']' * 5000}\n")  # was a RecursionError
def test_config_load(text: str | bytes) -> None:
    """Whatever loads can be used: its chunking parameters are ones the chunker takes."""
    with tempfile.NamedTemporaryFile(dir=PACK_DIR, suffix=".toml") as handle:
        handle.write(text.encode(errors="surrogatepass") if isinstance(text, str) else text)
        handle.flush()
        with bounded(len(text)):
            loaded = config.load(Path(handle.name))
            ChunkedRead(loaded.chunking)
            for remote in loaded.remotes:
                remote.storage_options()


# -- tags and remote run lists ---------------------------------------------------------------

MOVE = tag_move_json(TagMove("2026-01-01T00:00:00Z", "alice", None, OID, "ship it"))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=10,
)


@FUZZ
@given(
    ref=inputs((OID.hex() + "\n").encode()),
    log=st.lists(
        st.one_of(inputs(MOVE.encode()), JSON_VALUES.map(json.dumps).map(str.encode)), max_size=4
    ),
    field=st.sampled_from(["time", "user", "old", "new", "message"]),
    value=JSON_VALUES,
)
def test_tag_files(ref: bytes, log: list[bytes], field: str, value: Any) -> None:
    """A tag file and a tag log holding anything; a move with any field replaced."""
    with tempfile.TemporaryDirectory(dir=PACK_DIR) as scratch:
        tags = Tags(Path(scratch))
        tags.refs.mkdir(parents=True)
        tags.logs.mkdir(parents=True)
        (tags.refs / "t").write_bytes(ref)
        (tags.logs / "t").write_bytes(b"\n".join(log))
        size = len(ref) + sum(map(len, log))
        with bounded(size):
            tags.get("t")
        with bounded(size):
            tags.history("t")
        tags.pointing_at()
    move = json.loads(MOVE)
    move[field] = value
    decodes(tag_move_from_json, json.dumps(move))
    decodes(tag_move_from_json, "[" * 100_000)


RUN_LIST = "".join(bytes([n] * 32).hex() + "\n" for n in range(3)).encode()


@FUZZ
@given(data=inputs(RUN_LIST))
def test_remote_run_list(data: bytes) -> None:
    """Under its own name (so the parse is reached) and under the valid list's."""
    decodes(_parse_run_list, data, blake3.blake3(data).hexdigest(), "remote fuzz")
    decodes(_parse_run_list, data, blake3.blake3(RUN_LIST).hexdigest(), "remote fuzz")
