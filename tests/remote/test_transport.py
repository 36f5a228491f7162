"""The S3 transport's own transfers against a real S3 server (SeaweedFS): multipart
uploads in a window of parts, aborted on failure; ranged reads and downloads in pieces;
and pushes with one or eight transfers in flight, which must leave the same remote."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import blake3
import pytest

from mlvc.errors import RemoteError
from mlvc.ids import Kind
from mlvc.objects import Manifest
from mlvc.repo import Repo
from mlvc.store.connect import open_transport
from mlvc.store.remote import Remote
from mlvc.store.s3 import S3Transfers
from mlvc.store.s3transport import S3Transport
from mlvc.store.transport import Transport
from mlvc.store.upload import Uploader
from tests.conftest import Run, init_store
from tests.remote.seaweed import S3Server

MiB = 1 << 20
PART = 5 * MiB  # S3's smallest part: small files still make several parts


def s3(url: str, options: dict[str, Any], jobs: int = 8) -> S3Transport:
    transport = open_transport(url, options)
    assert isinstance(transport, S3Transport)
    transport.jobs = jobs
    transport.piece_size = MiB
    transport.transfers.part_size = PART
    return transport


class FailingPart(S3Transfers):
    """Transfers whose read of one part fails, as a disk error would, after the
    multipart upload has begun and other parts may have been sent."""

    failing = 2

    async def _read_part(self, fd: int, at: int, length: int) -> bytes:
        if at // self.part_size + 1 == self.failing:
            raise OSError("input/output error")
        return await super()._read_part(fd, at, length)


def unfinished_uploads(server: S3Server, transport: Transport, name: str) -> list[Any]:
    bucket, key, _ = transport.fs.split_path(transport.path(name))
    listed = server.filesystem().call_s3("list_multipart_uploads", Bucket=bucket, Prefix=key)
    return list(listed.get("Uploads", []))


def test_a_multipart_upload_sends_its_parts_and_counts_its_requests(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    local = tmp_path / "big"
    local.write_bytes(random.Random(1).randbytes(3 * PART + 12345))  # 4 parts
    transport = s3(s3_url, s3_server.options(), jobs=3)
    transport.upload("packs/big", local)
    assert transport.requests == 4 + 2  # create, 4 parts, complete
    assert transport.read("packs/big") == local.read_bytes()
    small = tmp_path / "small"
    small.write_bytes(b"one request")
    transport.upload("packs/small", small)
    assert transport.requests == 6 + 1 + 1  # the read, then one PUT
    assert transport.listdir("packs") == {"big": local.stat().st_size, "small": 11}


def test_a_multipart_upload_failing_part_way_leaves_no_object_and_no_parts(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    local = tmp_path / "big"
    local.write_bytes(random.Random(2).randbytes(4 * PART))
    good = s3(s3_url, s3_server.options())
    failing = s3(s3_url, s3_server.options(), jobs=1)  # parts in order: 1 is sent, 2 fails
    failing.transfers = FailingPart(failing.fs, failing.count, failing.stopping)
    failing.transfers.part_size = PART
    with pytest.raises(RemoteError, match="input/output error"):
        failing.upload("packs/big", local)
    assert good.read("packs/big") is None
    assert good.listdir("packs") == {}
    assert unfinished_uploads(s3_server, good, "packs/big") == []  # aborted: no parts kept


def test_a_stopped_transfer_sends_no_more_parts_and_aborts(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    local = tmp_path / "big"
    local.write_bytes(random.Random(5).randbytes(2 * PART + 1))
    transport = s3(s3_url, s3_server.options())
    transport.stopping.set()  # what the uploader does when the push fails or is interrupted
    with pytest.raises(RemoteError, match="transfer stopped"):
        transport.upload("packs/big", local)
    assert transport.read("packs/big") is None
    assert unfinished_uploads(s3_server, transport, "packs/big") == []


def test_ranged_reads_and_downloads_come_in_pieces_and_whole(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    data = random.Random(3).randbytes(5 * MiB + 7)
    transport = s3(s3_url, s3_server.options(), jobs=4)
    transport.write("packs/x", data)
    before = transport.requests
    ranges = [(0, 10), (MiB - 3, 3 * MiB + 5), (5 * MiB, 5 * MiB + 7), (9, 9)]
    got = transport.read_ranges("packs/x", ranges)
    assert got == [data[start:end] for start, end in ranges]
    assert transport.requests - before == 1 + 3 + 1  # the 2 MiB range in 1 MiB pieces
    target = tmp_path / "x"
    transport.download("packs/x", target, size=len(data))
    assert target.read_bytes() == data
    transport.download("packs/x", tmp_path / "x2")  # size unknown: a HEAD first
    assert (tmp_path / "x2").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x", "x2"]  # no temporary left
    with pytest.raises(RemoteError, match="shorter than its index says"):
        transport.read_ranges("packs/x", [(len(data) - 5, len(data) + 5)])


def test_a_download_from_a_directory_remote(tmp_path: Path) -> None:
    transport = open_transport(str(tmp_path / "remote"), {})
    transport.write("packs/x", b"bytes")
    transport.download("packs/x", tmp_path / "x")
    assert (tmp_path / "x").read_bytes() == b"bytes"
    with pytest.raises(RemoteError):
        transport.download("packs/missing", tmp_path / "y")
    assert not (tmp_path / "y").exists()


def test_botocore_checksums_are_off_unless_the_user_asks(s3_server: S3Server, s3_url: str) -> None:
    config = open_transport(s3_url, s3_server.options()).fs.config_kwargs
    assert config["request_checksum_calculation"] == "when_required"
    assert config["response_checksum_validation"] == "when_required"
    mine = {**s3_server.options(), "config_kwargs": {"request_checksum_calculation": "x"}}
    assert open_transport(s3_url, mine).fs.config_kwargs["request_checksum_calculation"] == "x"


def remote_contents(transport: Transport) -> dict[str, str]:
    """Every file of a remote's packs/ and runs/, by name: the BLAKE3 of its bytes."""
    found = {}
    for directory in ("packs", "runs"):
        for name in transport.listdir(directory):
            data = transport.read(f"{directory}/{name}")
            assert data is not None
            found[f"{directory}/{name}"] = blake3.blake3(data).hexdigest()
    return found


def test_one_or_eight_transfers_in_flight_give_the_same_remote(
    mlvc: Run, workspace: Path, s3_server: S3Server, tmp_path: Path
) -> None:
    init_store(workspace)
    rng = random.Random(4)
    for i in range(4):
        (workspace / f"w{i}.bin").write_bytes(rng.randbytes(7 * MiB))
    mlvc("add", ".")
    repo = Repo.discover(workspace)
    try:
        by_pack = repo.index.entries_by_pack()
        first = next(e.id for entries in by_pack.values() for e in entries)
        contents = []
        for jobs in (1, 8):
            url = f"s3://{s3_server.bucket}/jobs-{jobs}-{tmp_path.name}"
            remote = Remote("r", s3(url, s3_server.options(), jobs), tmp_path / f"cache{jobs}")
            scratch = tmp_path / f"scratch{jobs}"
            scratch.mkdir()
            # The remote "has" one object: every pack is repacked into packs of 6 MiB,
            # each sent as two parts, several packs at once with 8 jobs.
            uploader = Uploader(repo.dir / "packs", remote, scratch, None, jobs, 6 * MiB)
            stats = uploader.run(by_pack, {first})
            assert stats.packs >= 4
            remote.add_run_list(repo.index.history.run_ids(ok_only=False))
            contents.append(remote_contents(remote.transport))
            assert list(scratch.iterdir()) == []  # every pack sent was deleted after
    finally:
        repo.close()
    assert contents[0] == contents[1]


def test_push_jobs_flag(mlvc: Run, workspace: Path, tmp_path: Path) -> None:
    init_store(workspace)
    (workspace / "a.txt").write_text("alpha\n")
    mlvc("add", "a.txt")
    for jobs in ("1", "8"):
        mlvc("remote", "add", f"r{jobs}", str(tmp_path / f"shared{jobs}"))
        pushed = json.loads(mlvc("push", "-r", f"r{jobs}", "-j", jobs, "--json").stdout)
        assert pushed["objects"] > 0
    one, eight = (open_transport(str(tmp_path / f"shared{j}"), {}) for j in ("1", "8"))
    assert remote_contents(one) == remote_contents(eight)
    # Each local pack alone held every missing object of its kind (metadata, data): the
    # remote holds the very same packs (sent as they are; a copy would be identical too).
    local = {p.stem for p in (workspace / ".mlvc" / "packs").glob("*.pack")}
    assert {n.split(".")[0] for n in one.listdir("packs")} == local
    refused = mlvc("push", "-j", "0", check=False)
    assert refused.returncode != 0 and "-j" in refused.stderr


@pytest.mark.parametrize(
    "sizes",
    [
        pytest.param((300_000, 300_000), id="a-small-pack-copied"),
        # The remote's first pack (>= 64 MiB) holds a.bin and part of b.bin: big enough to
        # be sent whole, were it not checked for objects this push does not want.
        pytest.param((40 << 20, 30 << 20), id="a-pack-big-enough-to-send-whole"),
    ],
)
def test_a_push_of_some_runs_never_sends_a_local_pack_whole_with_others_data(
    mlvc: Run, workspace: Path, tmp_path: Path, sizes: tuple[int, int]
) -> None:
    init_store(workspace)
    rng = random.Random(6)
    for name, size in zip(("a.bin", "b.bin"), sizes, strict=True):  # two runs
        (workspace / name).write_bytes(rng.randbytes(size))
        mlvc("add", name)
    mlvc("remote", "add", "origin", str(tmp_path / "first"))
    mlvc("push")
    clone = tmp_path / "clone"
    clone.mkdir()
    mlvc("clone", str(tmp_path / "first"), cwd=clone)
    mlvc("pull", cwd=clone)  # its local packs now hold both runs' data together
    mlvc("remote", "add", "second", str(tmp_path / "second"), cwd=clone)
    mlvc("push", "-r", "second", "a.bin", cwd=clone)
    reader = Remote("check", open_transport(str(tmp_path / "second"), {}), tmp_path / "cache")
    held = {e.id.hex() for pack in reader.packs().values() for e in pack.entries}
    listed = json.loads(mlvc("hash-object", "a.bin", "b.bin", "--json").stdout)
    a_id, b_id = (entry["id"] for entry in listed)
    assert a_id in held and b_id not in held
    a_chunks, b_chunks = (_chunk_ids(workspace, oid) for oid in (a_id, b_id))
    assert a_chunks <= held  # every chunk of a.bin went
    assert not b_chunks & held  # and none of b.bin's, though they shared a pack


def _chunk_ids(workspace: Path, file_id: str) -> set[str]:
    repo = Repo.discover(workspace)
    try:
        kind, data = repo.store.get(bytes.fromhex(file_id))
        if kind is not Kind.MANIFEST:
            return {file_id}
        return {p.id.hex() for p in repo.store.chunk_parts(Manifest.decode(data))}
    finally:
        repo.close()


CLI_THEN_MODULES = """
import sys
from mlvc.cli import main
sys.argv = ["mlvc", *sys.argv[1:]]
try:
    main()
finally:
    sys.stderr.write(f"\\nfsspec imported: {'fsspec' in sys.modules}\\n")
"""


def test_a_directory_remote_needs_no_fsspec(mlvc: Run, workspace: Path, tmp_path: Path) -> None:
    """push, fetch and pull of a directory remote go through `os` alone (fsspec's import
    is ~30 ms of each)."""
    mlvc("init")
    (workspace / "f.txt").write_text("data\n")
    mlvc("add", "f.txt")
    mlvc("remote", "add", "origin", str(tmp_path / "remote"), "--default")
    for command in ("push", "fetch", "pull"):
        done = subprocess.run(
            [sys.executable, "-c", CLI_THEN_MODULES, command],
            cwd=workspace,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr.endswith("fsspec imported: False\n"), (command, done.stderr)
    assert (tmp_path / "remote" / "packs").is_dir()
