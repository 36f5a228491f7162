"""Reads of an S3 remote by botocore alone (`store/s3reads.py`) against a real S3 server:
what they return is what s3fs returns, a read that fails that way is made again through
s3fs, and a command that only reads never imports s3fs."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from mlvc.errors import RemoteError
from mlvc.store.connect import open_transport
from mlvc.store.s3reads import Failed, S3Reads, client_arguments
from mlvc.store.s3transport import S3Transport
from tests.remote.seaweed import S3Server

MiB = 1 << 20


def transport(url: str, options: dict[str, Any]) -> S3Transport:
    made = open_transport(url, options)
    assert isinstance(made, S3Transport)
    made.piece_size = MiB
    return made


def written(server: S3Server, url: str, name: str, seed: int, size: int) -> bytes:
    """`size` random bytes written to `name` on the remote at `url`, by a client of its own."""
    data = random.Random(seed).randbytes(size)
    transport(url, server.options()).write(name, data)
    return data


def test_reads_by_botocore_match_s3fs_and_count_their_requests(
    s3_server: S3Server, s3_url: str
) -> None:
    data = written(s3_server, s3_url, "packs/a.pack", 21, 3 * MiB + 11)
    writer = transport(s3_url, s3_server.options())
    writer.write("packs/a.idx", b"index")
    writer.write("packs/deeper/b", b"not directly in packs/")
    reader = transport(s3_url, s3_server.options())
    before = reader.requests
    assert reader.listdir("packs") == {"a.pack": len(data), "a.idx": 5}
    assert reader.read("packs/a.idx") == b"index"
    ranges = [(0, 10), (MiB - 1, 2 * MiB + 1), (len(data) - 3, len(data))]
    assert reader.read_ranges("packs/a.pack", ranges) == [data[s:e] for s, e in ranges]
    buffer = bytearray(len(data))
    reader.read_into("packs/a.pack", memoryview(buffer))
    assert buffer == data
    # 1 list, 1 get, 1 + 2 + 1 ranged gets, 4 pieces of the whole read
    assert reader.requests - before == 1 + 1 + 4 + 4
    assert reader._fast and reader._fs is None  # s3fs never needed
    assert reader.fs.ls(reader.path("packs"))  # (the same objects, seen by s3fs)


def test_absent_objects_are_answers_not_failures(s3_server: S3Server, s3_url: str) -> None:
    reader = transport(s3_url, s3_server.options())
    assert reader.listdir("nothing/here") == {}
    assert reader.read("refs/tags/none") is None
    assert reader.read_ref("refs/tags/none") is None
    assert reader._fast and reader._fs is None


def test_a_ref_read_by_botocore_swaps_as_one_read_by_s3fs(s3_server: S3Server, s3_url: str) -> None:
    writer = transport(s3_url, s3_server.options())
    writer.swap_ref("refs/tags/t", b"one\n", None)
    found = transport(s3_url, s3_server.options()).read_ref("refs/tags/t")
    assert found is not None and found[0] == b"one\n"
    assert found[1] == str(writer.fs.info(writer.path("refs/tags/t"))["ETag"])
    writer.swap_ref("refs/tags/t", b"two\n", found[1])
    assert writer.read("refs/tags/t") == b"two\n"


def test_a_read_refused_to_botocore_is_made_again_through_s3fs(
    s3_server: S3Server, s3_url: str
) -> None:
    data = written(s3_server, s3_url, "packs/x", 22, 2 * MiB + 5)
    reader = transport(s3_url, s3_server.options())
    wrong = {**s3_server.options(), "secret": "not-the-secret"}
    reader._reads = S3Reads.make(wrong, 2, reader.count)  # refused by the server: 403
    assert reader.read_ranges("packs/x", [(5, 9)]) == [data[5:9]]
    assert not reader._fast  # the rest of the command goes through s3fs
    buffer = bytearray(len(data))
    reader.read_into("packs/x", memoryview(buffer))
    assert buffer == data
    assert reader.listdir("packs") == {"x": len(data)}
    assert reader.read("packs/x") == data and reader.read("packs/none") is None
    assert reader.read_ref("refs/tags/none") is None
    found = reader.read_ref("packs/x")  # (any object has an ETag)
    assert found is not None and found[0] == data and found[1].startswith('"')


def test_a_whole_read_refused_on_its_direct_pieces_is_made_again_through_s3fs(
    s3_server: S3Server, s3_url: str
) -> None:
    data = written(s3_server, s3_url, "packs/y", 23, 3 * MiB)
    reader = transport(s3_url, s3_server.options())
    reads = reader._fast_reads()
    assert reads is not None
    signed = reads.client.generate_presigned_url

    def tampered(*args: Any, **kwargs: Any) -> str:
        return str(signed(*args, **kwargs)).replace("Signature=", "Signature=00")

    reads.client.generate_presigned_url = tampered
    buffer = bytearray(len(data))
    reader.read_into("packs/y", memoryview(buffer))
    assert buffer == data
    assert not reader._fast


def test_an_endpoint_given_twice_differently_is_refused_as_s3fs_refuses_it(
    s3_server: S3Server, s3_url: str
) -> None:
    options = s3_server.options()
    transport(s3_url, options).write("packs/a", b"abc")
    twice = {
        **options,
        "endpoint_url": "http://127.0.0.1:9",
        "client_kwargs": {**options["client_kwargs"], "endpoint_url": options["endpoint_url"]},
    }
    with pytest.raises(RemoteError, match="does not take its options"):
        transport(s3_url, twice).read("packs/a")  # not read from one of the two


def test_a_whole_read_without_credentials_is_an_error_not_a_crash(
    s3_server: S3Server, s3_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to ask
    options = s3_server.options()
    transport(s3_url, options).write("packs/a", b"abc")
    unsigned = {k: v for k, v in options.items() if k not in ("key", "secret")}
    reader = transport(s3_url, unsigned)  # its first request: a whole read, to be presigned
    with pytest.raises(RemoteError, match="Unable to locate credentials"):
        reader.read_into("packs/a", memoryview(bytearray(3)))


@pytest.mark.parametrize("token", ["same", None])
def test_a_listing_whose_pages_do_not_go_on_is_no_endless_loop(
    s3_server: S3Server, s3_url: str, token: str | None
) -> None:
    transport(s3_url, s3_server.options()).write("packs/a", b"abc")
    reader = transport(s3_url, s3_server.options())
    reads = reader._fast_reads()
    assert reads is not None
    listed = reads.client.list_objects_v2
    pages: list[dict[str, Any]] = []

    def endless(**kwargs: Any) -> dict[str, Any]:  # a server that always says "more"
        assert len(pages) < 10, "an endless listing"
        page = {**listed(**kwargs), "IsTruncated": True, "NextContinuationToken": token}
        pages.append({k: v for k, v in page.items() if v is not None})  # None: no token
        return pages[-1]

    reads.client.list_objects_v2 = endless
    assert reader.listdir("packs") == {"a": 3}  # then listed the s3fs way (as it says)
    assert len(pages) <= 2 and not reader._fast


@pytest.mark.parametrize(
    "options",
    [
        {"endpoint_url": "http://h", "no_such_option": 1},  # s3fs says what is wrong
        {"key": "a", "username": "b"},  # s3fs refuses both
        {"requester_pays": True},  # a request argument only s3fs adds
        {"s3_additional_kwargs": {"SSECustomerKey": "k"}},
        # given twice, differently: s3fs's client refuses them
        {"endpoint_url": "http://a", "client_kwargs": {"endpoint_url": "http://b"}},
        {"key": "a", "client_kwargs": {"aws_access_key_id": "b"}},
    ],
)
def test_options_botocore_reads_do_not_map_leave_every_read_to_s3fs(
    options: dict[str, Any],
) -> None:
    assert client_arguments(options) is None


def test_options_map_as_s3fs_maps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FSSPEC_S3_ENDPOINT_URL", raising=False)
    given = {
        "username": "k",
        "password": "s",
        "endpoint_url": "http://h:1",
        "profile": "p",
        "client_kwargs": {"region_name": "r"},
        "config_kwargs": {"read_timeout": 3},
    }
    made = client_arguments(given)
    assert made is not None
    assert made["session"] == {"profile": "p"}
    assert made["client"] == {
        "aws_access_key_id": "k",
        "aws_secret_access_key": "s",
        "endpoint_url": "http://h:1",
        "use_ssl": True,
        "region_name": "r",
    }
    assert made["config"] == {"connect_timeout": 5, "read_timeout": 3}
    anonymous = client_arguments({"anon": True, "key": "k", "endpoint_url": "http://h"})
    assert anonymous is not None and anonymous["anonymous"]
    assert "aws_access_key_id" not in anonymous["client"]
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", "http://elsewhere")  # fsspec would add it
    assert client_arguments(given) is None


READ_ONLY = """
import json, sys
from mlvc.errors import RemoteError
from mlvc.store.connect import open_transport
t = open_transport(sys.argv[1], json.loads(sys.argv[2]))
t.listdir("packs"); t.read("packs/a"); t.read_ranges("packs/a", [(0, 2)])
heavy = ("s3fs", "aiobotocore", "aiohttp", "fsspec")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def test_reading_a_remote_imports_no_s3fs(s3_server: S3Server, s3_url: str) -> None:
    transport(s3_url, s3_server.options()).write("packs/a", b"abc")
    options = json.dumps(s3_server.options())
    out = subprocess.run(
        [sys.executable, "-c", READ_ONLY, s3_url, options],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == []


def test_a_failed_piece_stops_the_pieces_not_yet_begun(s3_server: S3Server, s3_url: str) -> None:
    last_done = threading.Event()
    submitted: list[Future[Any]] = []

    class Recorded(ThreadPoolExecutor):
        def submit(self, *args: Any, **kwargs: Any) -> Future[Any]:
            submitted.append(super().submit(*args, **kwargs))
            if len(submitted) == 40:
                submitted[-1].add_done_callback(lambda _: last_done.set())
            return submitted[-1]

    sent: list[int] = []

    def count(n: int) -> None:  # on the one reading thread, before each request
        sent.append(n)
        if len(sent) == 2:  # the second piece waits for the last to be cancelled: no race
            last_done.wait(120)  # between the pieces and the cancelling (a guard, not a time)

    reads = S3Reads.make(s3_server.options(), 1, count)  # one piece at a time
    assert reads is not None
    reads._pool = Recorded(1)
    bucket, _, prefix = s3_url.removeprefix("s3://").partition("/")
    with pytest.raises(Failed):
        reads.read_ranges(bucket, f"{prefix}/absent", [(0, 40 * MiB)], MiB)
    reads._pool.shutdown(wait=True)  # whatever was still queued has run now
    assert len(sent) == 2  # of 40 pieces: the failed one and the one under way
    assert all(f.cancelled() for f in submitted[2:])
