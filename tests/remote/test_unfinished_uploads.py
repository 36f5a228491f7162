"""A push killed in the middle of a multipart upload leaves the upload unfinished on the
bucket (its parts stored, and billed, until someone aborts it); the next push of the same
clone aborts it. Uploads of a live process are never touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlvc.store.uploads import UploadLedger
from tests.conftest import MLVC, Run
from tests.remote.seaweed import S3Server


def _unfinished(server: S3Server, url: str) -> list[str]:
    from fsspec.asyn import sync

    fs = server.filesystem()
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    listed = sync(fs.loop, fs._call_s3, "list_multipart_uploads", Bucket=bucket, Prefix=prefix)
    return [upload["Key"] for upload in listed.get("Uploads", [])]


def test_the_next_push_aborts_the_upload_a_killed_push_left(
    mlvc: Run, workspace: Path, s3_server: S3Server, s3_url: str
) -> None:
    keys = s3_server.env(os.environ)
    mlvc("init")
    mlvc("remote", "add", "origin", s3_url, "--default",
         "-o", f"endpoint_url={s3_server.endpoint}",
         "-o", "client_kwargs.region_name=us-east-1")  # fmt: skip
    (workspace / "weights.bin").write_bytes(os.urandom(96 << 20))  # a pack over one part
    mlvc("add", "weights.bin")
    ledger = workspace / ".mlvc" / "remotes" / "origin" / "uploads"
    push = subprocess.Popen([MLVC, "push"], cwd=workspace, env=keys, stderr=subprocess.DEVNULL)
    while push.poll() is None and not (ledger.is_dir() and any(ledger.glob("*.upload"))):
        pass  # until the multipart upload is written down: the kill lands inside it
    push.kill()
    push.wait()
    assert push.returncode == -9, "the push finished before it could be killed"
    assert len(_unfinished(s3_server, s3_url)) == 1

    again: dict[str, Any] = json.loads(mlvc("push", "--json", env=keys).stdout)
    assert again["aborted_uploads"] == 1
    assert _unfinished(s3_server, s3_url) == []
    assert not any(ledger.iterdir())
    assert mlvc("push", env=keys).stdout.startswith("remote origin is up to date")


def test_an_upload_in_flight_is_never_taken_for_abandoned(tmp_path: Path) -> None:
    ledger = UploadLedger(tmp_path / "uploads")
    upload = {"Bucket": "b", "Key": "p/packs/x.pack", "UploadId": "id/with+odd=chars"}
    with ledger.holding(upload):
        assert list(ledger.abandoned()) == []  # its lock is held: a live upload
        assert len(list((tmp_path / "uploads").glob("*.upload"))) == 1
    assert list(ledger.abandoned()) == []  # done: nothing left to abort
    assert not any((tmp_path / "uploads").iterdir())


def test_an_upload_whose_process_died_is_abandoned_and_garbage_is_dropped(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "uploads"
    upload = {"Bucket": "b", "Key": "p/packs/x.pack", "UploadId": "abc"}
    code = (
        "import sys, os; from pathlib import Path; from mlvc.store.uploads import UploadLedger\n"
        f"ledger = UploadLedger(Path({str(directory)!r}))\n"
        f"held = ledger.holding({upload!r})\n"
        "held.__enter__()\n"
        "os._exit(0)  # dies holding it, as a killed push does\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    (directory / "torn.upload").write_bytes(b'{"Bucket": "b", "Ke')  # killed mid-write
    (directory / "other.7.tmp").write_bytes(b"")  # killed before its rename
    found = list(UploadLedger(directory).abandoned())
    assert [u for u, _ in found] == [upload]
    UploadLedger.forget(found[0][1])
    assert not any(directory.iterdir())
