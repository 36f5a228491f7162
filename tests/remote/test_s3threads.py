"""The S3 transfers on threads (`store/s3threads.py`) against a real S3 server: whole-pack
reads and multipart parts take them, and a request they fail is made again through s3fs,
with the same bytes in the end."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

from mlvc.store import s3threads
from mlvc.store.s3 import Key, S3Transfers
from tests.remote.seaweed import S3Server
from tests.remote.test_transport import PART, s3

MiB = 1 << 20


def thread_names() -> set[str]:
    return {t.name.rsplit("_", 1)[0] for t in threading.enumerate()}


def whole_read(transfers: S3Transfers, key: Key, size: int) -> bytes:
    buffer = bytearray(size)
    transfers.read_into(key, memoryview(buffer))
    return bytes(buffer)


def test_whole_reads_and_parts_go_on_threads_and_arrive_whole(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    local = tmp_path / "big"
    local.write_bytes(random.Random(11).randbytes(3 * PART + 999))
    transport = s3(s3_url, s3_server.options(), jobs=3)
    transport.upload("packs/big", local)
    assert "mlvc-put" in thread_names()
    before = transport.requests
    got = whole_read(transport.transfers, transport._key("packs/big"), local.stat().st_size)
    assert got == local.read_bytes()
    assert "mlvc-get" in thread_names()
    assert transport.transfers.threads  # nothing failed on the threads
    assert transport.requests - before == -(-local.stat().st_size // MiB)  # 1 MiB pieces


class BadSignature(S3Transfers):
    """Presigned URLs the server refuses (403), as an expired or mis-signed one would be."""

    async def _direct_url(self, key: Key) -> str | None:
        url = await super()._direct_url(key)
        return None if url is None else url.replace("Signature=", "Signature=00")


def test_a_read_refused_on_a_thread_is_read_again_through_s3fs(
    s3_server: S3Server, s3_url: str
) -> None:
    data = random.Random(12).randbytes(3 * MiB + 5)
    transport = s3(s3_url, s3_server.options(), jobs=2)
    transport.write("packs/x", data)
    transfers = BadSignature(transport.fs, transport.count, transport.stopping)
    transfers.piece_size = MiB
    assert whole_read(transfers, transport._key("packs/x"), len(data)) == data
    assert not transfers.threads  # the rest of the command goes the s3fs way


class WrongKeyParts(S3Transfers):
    """Parts sent on threads by a client whose secret the server does not know."""

    async def _part_uploads(self) -> s3threads.PartUploads | None:
        if self._uploads is None and self.threads:
            import s3fs

            options: dict[str, Any] = {**self.fs.storage_options, "secret": "not-the-secret"}
            self._uploads = s3threads.PartUploads.make(s3fs.S3FileSystem(**options), self.jobs)
        return self._uploads if self.threads else None


def test_a_part_refused_on_a_thread_is_sent_again_through_s3fs(
    s3_server: S3Server, s3_url: str, tmp_path: Path
) -> None:
    local = tmp_path / "big"
    local.write_bytes(random.Random(13).randbytes(2 * PART + 7))
    transport = s3(s3_url, s3_server.options(), jobs=1)
    transport.transfers = WrongKeyParts(transport.fs, transport.count, transport.stopping)
    transport.transfers.part_size = PART
    transport.upload("packs/big", local)
    assert not transport.transfers.threads
    assert transport.read("packs/big") == local.read_bytes()
