"""Hostile metadata: trees with dangerous names, and bytes that are not canonical msgpack.

Objects arrive from remotes and packs nobody vouches for. Every decoder must answer
CorruptObjectError (exit 1 at the CLI), never accept, crash or recurse without bound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlvc import codec
from mlvc.errors import CorruptObjectError, UnsafePathError
from mlvc.ids import Kind, file_id
from mlvc.objects import Manifest, ManifestNode, Part, Run, Tree, TreeEntry
from mlvc.repo import Repo

OID = bytes(range(32))
OID2 = bytes(range(1, 33))


def tree_bytes(*rows: list[Any], v: Any = 1) -> bytes:
    return codec.encode({"v": v, "entries": list(rows)})


def row(name: str, kind: str = "file", executable: Any = False, size: Any = 1) -> list[Any]:
    return [name, kind, executable, size, OID]


UNSAFE_NAMES = [
    "..",
    "../x",
    "/etc/passwd",
    "a/b",
    ".git",
    ".MLVC",
    "x\x00y",
    "C:evil",
    "\n",
    # and a few more of the same families
    "",
    ".",
    "..\\x",
    "a\\b",
    ".Git",
    ".mlvc",
    "tab\there",
    "del\x7f",
    "c:",
    "ok\r",
]


@pytest.mark.parametrize("name", UNSAFE_NAMES, ids=repr)
def test_tree_with_unsafe_name_is_rejected_on_read(name: str) -> None:
    with pytest.raises(CorruptObjectError):
        Tree.decode(tree_bytes(row(name)))
    # ... also when it hides behind a legal entry (" " sorts before all but controls)
    if name > " ":
        with pytest.raises(CorruptObjectError):
            Tree.decode(tree_bytes(row(" "), row(name)))


@pytest.mark.parametrize("name", UNSAFE_NAMES, ids=repr)
def test_tree_with_unsafe_name_is_refused_on_write(name: str) -> None:
    with pytest.raises((UnsafePathError, ValueError)):
        Tree((TreeEntry(name, "file", False, 1, file_id(b"x")),)).encode()


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([row("b"), row("a")], id="unsorted"),
        pytest.param([row("a"), row("a")], id="duplicate"),
        pytest.param([row("a"), row("b"), row("a")], id="duplicate-later"),
        pytest.param([row("a"), row("c"), row("b")], id="unsorted-after-sorted"),
        pytest.param([row("é"), row("e")], id="unsorted-unicode"),
    ],
)
def test_tree_with_unsorted_or_duplicate_entries_is_rejected(rows: list[list[Any]]) -> None:
    with pytest.raises(CorruptObjectError):
        Tree.decode(tree_bytes(*rows))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(tree_bytes(row("a", kind="dir")), id="unknown-kind"),
        pytest.param(tree_bytes(row("a", executable=1)), id="exec-bit-int"),
        pytest.param(tree_bytes(row("a", size=-1)), id="negative-size"),
        pytest.param(tree_bytes(row("a", size=True)), id="bool-size"),
        pytest.param(tree_bytes(row("a", size=1.0)), id="float-size"),
        pytest.param(tree_bytes(["a", "file", False, 1, OID[:31]]), id="short-id"),
        pytest.param(tree_bytes(["a", "file", False, 1, OID.hex()]), id="hex-string-id"),
        pytest.param(tree_bytes(["a", "file", False, 1]), id="four-fields"),
        pytest.param(tree_bytes([*row("a"), None]), id="six-fields"),
        pytest.param(tree_bytes([b"a", "file", False, 1, OID]), id="bytes-name"),
        pytest.param(tree_bytes(row("a"), v=2), id="version-2"),
        pytest.param(codec.encode({"v": 1, "entries": {}}), id="entries-map"),
        pytest.param(codec.encode({"v": 1, "entries": [], "x": 1}), id="extra-field"),
        pytest.param(codec.encode({"entries": []}), id="no-version"),
        pytest.param(codec.encode([1, []]), id="top-level-list"),
    ],
)
def test_tree_with_bad_shape_is_rejected(data: bytes) -> None:
    with pytest.raises(CorruptObjectError):
        Tree.decode(data)


def _with_version(kind: str, version: Any) -> bytes:
    if kind == "tree":
        return tree_bytes(row("a"), v=version)
    if kind == "manifest":
        return codec.encode({"v": version, "size": 5, "level": 0, "parts": [[OID, 5]]})
    if kind == "manifest-node":
        return codec.encode({"v": version, "parts": [[OID, 5]]})
    value = Run(kind="snapshot", started="s", ended="e", status="ok").to_value()
    return codec.encode({**value, "v": version})


DECODERS = {"tree": Tree.decode, "manifest": Manifest.decode, "manifest-node": ManifestNode.decode}
DECODERS["run"] = Run.decode


@pytest.mark.parametrize("kind", list(DECODERS))
@pytest.mark.parametrize("version", [True, 1.0], ids=["true", "float"])
def test_version_must_be_the_integer_one(kind: str, version: Any) -> None:
    """`True == 1.0 == 1` in Python, but they are different msgpack bytes: accepting them
    gives one object two encodings, hence two ids (and `v: true` is not the schema)."""
    data = _with_version(kind, version)
    with pytest.raises(CorruptObjectError):
        DECODERS[kind](data)


@pytest.mark.parametrize("level", [True, False, 0.0, 1.0], ids=repr)
def test_manifest_level_must_be_an_integer(level: Any) -> None:
    data = codec.encode({"v": 1, "size": 5, "level": level, "parts": [[OID, 5]]})
    with pytest.raises(CorruptObjectError):
        Manifest.decode(data)


def test_run_exit_code_must_not_be_a_bool() -> None:
    value = Run(kind="run", started="s", ended="e", status="ok", exit_code=0).to_value()
    with pytest.raises(CorruptObjectError):
        Run.decode(codec.encode({**value, "exit_code": True}))


@pytest.mark.parametrize(
    "path", ["../escape", "/abs", "a/../b", "a//b", ".git/config", "C:x", "a/"]
)
def test_run_with_unsafe_path_is_rejected(path: str) -> None:
    run = Run(kind="run", started="s", ended="e", status="ok").to_value()
    record = {"id": OID, "kind": "file", "size": 1, "producer_run": None}
    with pytest.raises(CorruptObjectError):
        Run.decode(codec.encode({**run, "outputs": {path: record}}))


# -- canonical msgpack ----------------------------------------------------------------


NON_CANONICAL = [
    pytest.param(msgpack.packb({"b": 1, "a": 2}), id="unsorted-keys"),
    pytest.param(msgpack.packb({"z": {"b": 1, "a": 2}}), id="unsorted-nested-keys"),
    pytest.param(msgpack.packb(1.5, use_single_float=True), id="float32"),
    pytest.param(msgpack.packb([0.25], use_single_float=True), id="float32-in-list"),
    pytest.param(b"\x82\xa1a\x01\xa1a\x02", id="duplicate-keys"),
    pytest.param(b"\x82\xa1a\x01\xa1a\x01", id="duplicate-keys-same-value"),
    pytest.param(msgpack.packb(msgpack.ExtType(5, b"x")), id="ext-type"),
    pytest.param(msgpack.packb(msgpack.ExtType(5, b"")), id="empty-ext-type"),
    pytest.param(msgpack.packb(msgpack.Timestamp(0)), id="timestamp-ext"),
    pytest.param(b"\x91" * 33 + b"\xc0", id="nested-33"),
    pytest.param(b"\x91" * 2000 + b"\xc0", id="nested-2000"),
    pytest.param(b"\x91" * 200_000 + b"\xc0", id="nested-200000"),
    pytest.param(b"\x81\xa1a" * 5000 + b"\xc0", id="nested-maps-5000"),
    pytest.param(b"\xcd\x00\x01", id="non-minimal-int"),
    pytest.param(b"\xd9\x01a", id="non-minimal-str"),
    pytest.param(b"\xdc\x00\x00", id="non-minimal-array"),
    pytest.param(b"\xa1\xff", id="invalid-utf8"),
    pytest.param(b"\x81\xc4\x01a\x01", id="bytes-key"),
    pytest.param(b"\x81\x01\x01", id="int-key"),
    pytest.param(msgpack.packb(1) + b"\x00", id="trailing-bytes"),
    pytest.param(msgpack.packb([1, 2, 3])[:-1], id="truncated"),
    pytest.param(b"", id="empty"),
    pytest.param(b"\xc1", id="reserved-byte"),
    pytest.param(b"\xdd\xff\xff\xff\xff", id="array-claims-4G-items"),
    pytest.param(b"\xdf\xff\xff\xff\xff", id="map-claims-4G-items"),
    pytest.param(b"\xdb\xff\xff\xff\xff", id="str-claims-4GiB"),
    pytest.param(b"\xc6\xff\xff\xff\xff", id="bin-claims-4GiB"),
]


@pytest.mark.parametrize("data", NON_CANONICAL)
def test_non_canonical_bytes_are_rejected(data: bytes) -> None:
    with pytest.raises(CorruptObjectError):
        codec.decode(data, "object")


def test_canonical_bytes_are_accepted() -> None:
    value = {"a": [1, -1, 2**64 - 1, -(2**63), 0.5, None, True, b"\x00", "é"], "b": {}}
    data = codec.encode(value)
    assert codec.decode(data, "object") == value
    deepest: Any = None
    for _ in range(codec.MAX_DEPTH):
        deepest = [deepest]
    assert codec.decode(codec.encode(deepest), "object") == deepest


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64))
def test_decode_of_arbitrary_bytes_raises_only_corrupt_object(data: bytes) -> None:
    try:
        value = codec.decode(data, "object")
    except CorruptObjectError:
        return
    assert codec.encode(value) == data  # accepted means canonical


VALID_TREE = Tree(
    (
        TreeEntry("a.csv", "file", False, 10, OID),
        TreeEntry("bin", "tree", False, 3, OID2),
        TreeEntry("run.sh", "file", True, 7, OID2),
    )
).encode()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(VALID_TREE) - 1), st.integers(1, 255))
def test_any_flipped_tree_byte_is_rejected_or_still_canonical(offset: int, mask: int) -> None:
    damaged = bytearray(VALID_TREE)
    damaged[offset] ^= mask
    try:
        tree = Tree.decode(bytes(damaged))
    except CorruptObjectError:
        return
    assert tree.encode() == bytes(damaged), "a tree that decodes must re-encode to its bytes"


# -- through the CLI: hostile objects that are validly stored under their own id -------


def _store_tree(repo: Repo, data: bytes) -> bytes:
    oid = repo.store.put_object(Kind.TREE, data)
    repo.store.commit()
    return oid


@pytest.mark.parametrize(
    ("name", "command"),
    [("..", "ls-tree"), ("/etc/passwd", "ls-tree"), (".git", "ls-tree"), ("a/b", "cat-object")],
)
def test_stored_hostile_tree_is_refused_by_the_cli(
    repo: Repo, cli, name: str, command: str
) -> None:
    oid = _store_tree(repo, tree_bytes(row(name)))
    result = cli(command, oid.hex()).clean_error(oid.hex()[:12])
    assert result.stdout == b""


def test_hostile_subtree_fails_a_recursive_listing(repo: Repo, cli) -> None:
    bad = _store_tree(repo, tree_bytes(row("../../etc")))
    top = Tree((TreeEntry("sub", "tree", False, 1, bad),)).encode()
    oid = _store_tree(repo, top)
    result = cli("ls-tree", "-r", oid.hex()).clean_error(bad.hex()[:12])
    assert b"etc" not in result.stdout


def test_tree_entry_pointing_at_file_content_is_refused(repo: Repo, cli) -> None:
    content = repo.store.put_bytes(b"not a tree")
    top = _store_tree(repo, Tree((TreeEntry("sub", "tree", False, 1, content),)).encode())
    cli("ls-tree", "-r", top.hex()).clean_error(content.hex()[:12])


def test_deeply_nested_stored_trees_do_not_crash_a_recursive_listing(
    repo: Repo, cli, tmp_path: Path
) -> None:
    """A chain of 1500 trees (a legal directory depth on Linux, or a hostile remote's
    gift): the listing is iterative, so it is listed whole (a RecursionError would be a
    crash, exit 3)."""
    child = repo.store.put_bytes(b"leaf")
    entry = TreeEntry("leaf", "file", False, 4, child)
    for _ in range(1500):
        tree = Tree((entry,))
        oid = repo.store.put_object(Kind.TREE, tree.encode())
        entry = TreeEntry("d", "tree", False, 4, oid)
    repo.store.commit()
    result = cli("ls-tree", "-r", oid.hex()).ok()
    assert result.text().rstrip("\n").endswith("/".join(["d"] * 1499) + "/leaf")


def test_manifest_with_impossible_sizes_is_rejected() -> None:
    data = codec.encode({"v": 1, "size": 10, "level": 0, "parts": [[OID, 4], [OID2, 5]]})
    with pytest.raises(CorruptObjectError):
        Manifest.decode(data)
    node = ManifestNode((Part(OID, 1),)).encode()
    assert ManifestNode.decode(node).parts == (Part(OID, 1),)
