"""mlvc.store.remote and its transport: one conformance class run against a local
directory remote and a real S3 server (SeaweedFS), as fsspec and dulwich test every
backend with one suite."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlvc import codec
from mlvc.errors import CorruptObjectError, CorruptPackError, RefConflictError, RemoteError
from mlvc.ids import Kind, ObjectId, file_id, object_id
from mlvc.objects import Tree, TreeEntry
from mlvc.store.connect import open_transport
from mlvc.store.entry import Entry
from mlvc.store.pack import PackWriter, read_table
from mlvc.store.refs import TagMove
from mlvc.store.remote import MERGE_GAP, Remote, plan_reads
from mlvc.store.s3transport import S3Transport
from mlvc.store.transport import Transport, check_url


def make_pack(directory: Path, chunks: list[bytes], trees: tuple[bytes, ...] = ()) -> Path:
    """A sealed, published pack of raw chunks and tree objects (given as canonical bytes)."""
    directory.mkdir(parents=True, exist_ok=True)
    writer = PackWriter(directory)
    for data in chunks:
        writer.add(file_id(data), Kind.CHUNK, 0, len(data), data)
    for data in trees:
        writer.add(object_id(Kind.TREE, data), Kind.TREE, 0, len(data), data)
    writer.seal()
    return writer.publish()


def a_tree(name: str) -> bytes:
    entry = TreeEntry(name, "file", False, 3, file_id(b"abc"))
    return Tree((entry,)).encode()


def another(transport: Transport) -> Transport:
    """A second client of the same remote, as another process would have."""
    if isinstance(transport, S3Transport):
        return S3Transport(transport.url, transport.options)
    return open_transport(transport.url, {})


@pytest.fixture(params=["directory", "s3"])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Transport]:
    if request.param == "directory":
        yield open_transport(str(tmp_path / "remote"), {})
    else:
        url: str = request.getfixturevalue("s3_url")
        options: dict[str, Any] = request.getfixturevalue("s3_options")
        yield open_transport(url, options)


@pytest.fixture
def remote(transport: Transport, tmp_path: Path) -> Remote:
    return Remote("origin", transport, tmp_path / "cache")


def a_second_client(remote: Remote, tmp_path: Path) -> Remote:
    """Another machine: its own transport to the same URL, its own empty cache."""
    return Remote("origin", another(remote.transport), tmp_path / "other-cache")


class TestTransport:
    def test_write_read_list(self, transport: Transport) -> None:
        assert transport.listdir("packs") == {}
        assert transport.read("packs/none") is None
        transport.write("packs/a", b"alpha")
        transport.write("packs/b", b"bravo!")
        assert transport.read("packs/a") == b"alpha"
        assert transport.listdir("packs") == {"a": 5, "b": 6}

    def test_ranged_reads(self, transport: Transport) -> None:
        data = random.Random(1).randbytes(100_000)
        transport.write("blob", data)
        assert transport.read_ranges("blob", [(0, 10), (500, 90_000)]) == [
            data[:10],
            data[500:90_000],
        ]
        with pytest.raises(RemoteError, match="shorter than its index says"):
            transport.read_ranges("blob", [(99_990, 100_010)])
        with pytest.raises(RemoteError):
            transport.read_ranges("absent", [(0, 1)])

    def test_a_listing_names_files_not_directories(self, transport: Transport) -> None:
        transport.write("packs/a", b"alpha")
        transport.write("packs/below/b", b"bravo")
        assert transport.listdir("packs") == {"a": 5}
        assert transport.listdir("packs/below") == {"b": 5}

    def test_delete_removes_and_an_absent_file_is_fine(self, transport: Transport) -> None:
        transport.write("packs/a", b"alpha")
        transport.delete("packs/a")
        transport.delete("packs/a")
        assert transport.read("packs/a") is None
        assert transport.listdir("packs") == {}

    def test_ref_create_is_exclusive(self, transport: Transport) -> None:
        transport.swap_ref("refs/tags/x", b"one\n", None)
        with pytest.raises(RefConflictError):
            transport.swap_ref("refs/tags/x", b"two\n", None)
        assert transport.read("refs/tags/x") == b"one\n"

    def test_ref_swap_needs_the_version_read(self, transport: Transport) -> None:
        transport.swap_ref("refs/tags/x", b"one\n", None)
        found = transport.read_ref("refs/tags/x")
        assert found is not None and found[0] == b"one\n"
        transport.swap_ref("refs/tags/x", b"two\n", found[1])
        with pytest.raises(RefConflictError):
            transport.swap_ref("refs/tags/x", b"three\n", found[1])  # stale version
        assert transport.read("refs/tags/x") == b"two\n"

    def test_concurrent_swaps_exactly_one_wins(self, transport: Transport) -> None:
        transport.swap_ref("refs/tags/x", b"start\n", None)
        found = transport.read_ref("refs/tags/x")
        assert found is not None
        outcomes: list[str] = []
        start = threading.Barrier(6)

        def swap(i: int) -> None:
            mine = another(transport)
            start.wait()
            try:
                mine.swap_ref("refs/tags/x", f"writer {i}\n".encode(), found[1])
                outcomes.append(f"writer {i}\n")
            except RefConflictError:
                outcomes.append("lost")

        threads = [threading.Thread(target=swap, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [o for o in outcomes if o != "lost"]
        assert len(outcomes) == 6 and len(winners) == 1
        assert transport.read("refs/tags/x") == winners[0].encode()


class TestRemote:
    def test_pushed_pack_is_listed_with_its_entries(self, remote: Remote, tmp_path: Path) -> None:
        pack = make_pack(tmp_path / "local", [b"x" * 100, b"y" * 5000], (a_tree("data.csv"),))
        assert remote.upload_pack(pack) == pack.stem
        listed = a_second_client(remote, tmp_path).packs()
        assert list(listed) == [pack.stem]
        assert list(listed[pack.stem].entries) == read_table(pack)
        assert listed[pack.stem].size == pack.stat().st_size
        # the verified index file is cached: a later reader needs only the listing
        assert (tmp_path / "other-cache" / "packs" / f"{pack.stem}.idx").is_file()

    def test_pack_without_index_is_ignored(self, remote: Remote, tmp_path: Path) -> None:
        pack = make_pack(tmp_path / "local", [b"orphan"])
        remote.transport.upload(f"packs/{pack.name}", pack)  # a push killed before the index
        assert remote.packs() == {}

    def test_objects_come_back_verified(self, remote: Remote, tmp_path: Path) -> None:
        rng = random.Random(2)
        chunks = [rng.randbytes(200_000) for _ in range(30)]
        tree = a_tree("model.bin")
        remote.upload_pack(make_pack(tmp_path / "local", chunks, (tree,)))
        (pack,) = remote.packs().values()
        few = [pack.entries[0], pack.entries[29], pack.entries[30]]  # ranged reads
        got = remote.read_objects(pack, few)
        assert got == {
            file_id(chunks[0]): chunks[0],
            file_id(chunks[29]): chunks[29],
            object_id(Kind.TREE, tree): tree,
        }
        everything = remote.read_objects(pack, pack.entries)  # the whole pack
        assert [everything[file_id(c)] for c in chunks] == chunks

    def test_a_flipped_byte_is_named(self, remote: Remote, tmp_path: Path) -> None:
        chunks = [b"a" * 1000, b"b" * 1000]
        pack = make_pack(tmp_path / "local", chunks)
        remote.upload_pack(pack)
        data = bytearray(pack.read_bytes())
        entry = read_table(pack)[1]
        data[entry.offset + 10] ^= 1
        remote.transport.write(f"packs/{pack.name}", bytes(data))
        (listed,) = remote.packs().values()
        with pytest.raises(CorruptObjectError) as caught:
            remote.read_objects(listed, listed.entries)
        assert file_id(chunks[1]).hex() in caught.value.message
        assert "remote origin" in caught.value.message

    def test_a_crafted_tree_is_refused(self, remote: Remote, tmp_path: Path) -> None:
        bad = codec.encode({"v": 1, "entries": [["..", "file", False, 3, file_id(b"abc")]]})
        remote.upload_pack(make_pack(tmp_path / "local", [], (bad,)))
        (pack,) = remote.packs().values()
        with pytest.raises(CorruptObjectError, match="tree"):
            remote.read_objects(pack, pack.entries)

    def test_a_tampered_index_file_is_refused(self, remote: Remote, tmp_path: Path) -> None:
        pack = make_pack(tmp_path / "local", [b"one", b"two"])
        remote.upload_pack(pack)
        other = make_pack(tmp_path / "other", [b"three"])
        trailer = other.read_bytes()[-(66 + 64) :]
        remote.transport.write(f"packs/{pack.stem}.idx", trailer)  # another pack's index
        with pytest.raises(CorruptPackError, match="not named after its table"):
            a_second_client(remote, tmp_path).packs()

    def test_run_lists_merge(self, remote: Remote, tmp_path: Path) -> None:
        a, b, c = (ObjectId(bytes([i]) * 32) for i in (1, 2, 3))
        remote.add_run_list([a, b])
        a_second_client(remote, tmp_path).add_run_list([b, c])
        assert remote.runs() == {a, b, c}

    def test_a_run_list_must_match_its_name(self, remote: Remote) -> None:
        remote.transport.write("runs/" + "0" * 64 + ".runs", b"f" * 64 + b"\n")
        with pytest.raises(CorruptObjectError, match="does not match its name"):
            remote.runs()

    def test_tags_move_by_compare_and_swap(self, remote: Remote, tmp_path: Path) -> None:
        one, two = ObjectId(b"\x01" * 32), ObjectId(b"\x02" * 32)
        remote.move_tag("prod", TagMove("2026-12-06T00:00:00.000000Z", "ann", None, one, ""))
        other = a_second_client(remote, tmp_path)
        assert other.tag("prod") == one
        with pytest.raises(RefConflictError):
            other.move_tag("prod", TagMove("2026-12-06T00:00:01.000000Z", "bob", None, two, ""))
        other.move_tag("prod", TagMove("2026-12-06T00:00:02.000000Z", "bob", one, two, "v2"))
        assert remote.tag("prod") == two
        assert len(remote.transport.listdir("logs/tags/prod")) == 2


def _entry(offset: int, length: int) -> Entry:
    return Entry(ObjectId(bytes(32)), Kind.CHUNK, 0, offset, length, length, bytes(8))


def test_plan_merges_close_ranges_and_keeps_far_ones_apart() -> None:
    entries = [_entry(100, 10), _entry(200, 10), _entry(100 + MERGE_GAP * 3, 10)]
    assert plan_reads(entries, 1 << 30) == [(100, 210), (100 + MERGE_GAP * 3, 110 + MERGE_GAP * 3)]


def test_plan_takes_the_whole_pack_when_much_is_needed() -> None:
    assert plan_reads([_entry(0, 11), _entry(50, 1)], 100) == [(0, 100)]
    assert plan_reads([], 100) == []


def test_urls_with_credentials_are_refused() -> None:
    with pytest.raises(RemoteError, match="embedded credentials"):
        check_url("s3://AKIA:secret@bucket/prefix")
    assert check_url("s3://bucket/prefix") == "s3://bucket/prefix"
