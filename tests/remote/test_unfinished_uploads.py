"""A push killed in the middle of a multipart upload leaves the upload unfinished on the
bucket (its parts stored, and billed, until someone aborts it); the next push of the same
clone aborts it. Uploads of a live process are never touched."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlvc.store.s3 import S3Transfers
from mlvc.store.uploads import UploadLedger
from tests.conftest import MLVC, Run, init_store
from tests.remote.seaweed import S3Server


def _unfinished(server: S3Server, url: str) -> list[str]:
    from fsspec.asyn import sync

    fs = server.filesystem()
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    listed = sync(fs.loop, fs._call_s3, "list_multipart_uploads", Bucket=bucket, Prefix=prefix)
    return [upload["Key"] for upload in listed.get("Uploads", [])]


def _with_remote(workspace: Path, mlvc: Run, server: S3Server, url: str) -> None:
    init_store(workspace)
    mlvc("remote", "add", "origin", url, "--default",
         "-o", f"endpoint_url={server.endpoint}",
         "-o", "client_kwargs.region_name=us-east-1")  # fmt: skip


def _pushing(workspace: Path, keys: dict[str, str]) -> subprocess.Popen[bytes]:
    """A push of a pack over one part, returned once its multipart upload is written down.
    One MiB over a part is enough: the signal lands while the first (whole) part is sent."""
    (workspace / "weights.bin").write_bytes(os.urandom(S3Transfers.PART + (1 << 20)))
    subprocess.run([MLVC, "add", "weights.bin"], cwd=workspace, check=True, capture_output=True)
    ledger = workspace / ".mlvc" / "remotes" / "origin" / "uploads"
    push = subprocess.Popen([MLVC, "push"], cwd=workspace, env=keys, stderr=subprocess.PIPE)
    while push.poll() is None and not (ledger.is_dir() and any(ledger.glob("*.upload"))):
        pass  # until the multipart upload is written down: a signal lands inside it
    return push


def test_the_next_push_aborts_the_upload_a_killed_push_left(
    mlvc: Run, workspace: Path, s3_server: S3Server, s3_url: str
) -> None:
    keys = s3_server.env(os.environ)
    _with_remote(workspace, mlvc, s3_server, s3_url)
    ledger = workspace / ".mlvc" / "remotes" / "origin" / "uploads"
    push = _pushing(workspace, keys)
    push.kill()
    push.wait()
    assert push.returncode == -9, "the push finished before it could be killed"
    assert len(_unfinished(s3_server, s3_url)) == 1

    again: dict[str, Any] = json.loads(mlvc("push", "--json", env=keys).stdout)
    assert again["aborted_uploads"] == 1
    assert _unfinished(s3_server, s3_url) == []
    assert not any(ledger.iterdir())
    assert mlvc("push", env=keys).stdout.startswith("remote origin is up to date")


def test_a_copy_of_the_clone_never_aborts_the_upload_of_the_original_in_flight(
    mlvc: Run, workspace: Path, tmp_path: Path, s3_server: S3Server, s3_url: str
) -> None:
    """A lock does not travel with a copy: `cp -r` of a clone while it pushes gives a
    ledger file nobody holds. The copy's push must leave the original's upload alone."""
    keys = s3_server.env(os.environ)
    _with_remote(workspace, mlvc, s3_server, s3_url)
    push = _pushing(workspace, keys)
    push.send_signal(signal.SIGSTOP)  # held mid-upload while the clone is copied
    try:
        copy = shutil.copytree(workspace, tmp_path / "copy", symlinks=True)
        pushed: dict[str, Any] = json.loads(mlvc("push", "--json", cwd=copy, env=keys).stdout)
    finally:
        push.send_signal(signal.SIGCONT)
    _, err = push.communicate()
    assert push.returncode == 0, err.decode()[-2000:]
    assert pushed["aborted_uploads"] == 0
    assert _unfinished(s3_server, s3_url) == []


def test_a_push_aborts_no_upload_outside_its_remote(
    mlvc: Run, workspace: Path, s3_server: S3Server, s3_url: str
) -> None:
    """A ledger file naming an upload under another prefix (another remote, a file
    written by hand) is dropped, never acted on."""
    from fsspec.asyn import sync

    keys = s3_server.env(os.environ)
    _with_remote(workspace, mlvc, s3_server, s3_url)
    other = f"{s3_url}-other"
    fs = s3_server.filesystem()
    bucket, _, prefix = other.removeprefix("s3://").partition("/")
    key = f"{prefix}/packs/x.pack"
    made = sync(fs.loop, fs._call_s3, "create_multipart_upload", Bucket=bucket, Key=key)
    ledger = workspace / ".mlvc" / "remotes" / "origin" / "uploads"
    ledger.mkdir(parents=True)
    here = ledger.stat()
    entry = {"Bucket": bucket, "Key": key, "UploadId": made["UploadId"]}
    entry["Ledger"] = f"{here.st_dev}:{here.st_ino}"  # as if this clone had written it
    (ledger / f"{'0' * 32}.upload").write_text(json.dumps(entry))
    pushed: dict[str, Any] = json.loads(mlvc("push", "--json", env=keys).stdout)
    assert pushed["aborted_uploads"] == 0
    assert _unfinished(s3_server, other) == [key]
    assert not any(ledger.iterdir())


def test_an_upload_the_store_refuses_to_abort_does_not_stop_the_push(
    mlvc: Run, workspace: Path, s3_server: S3Server, s3_url: str
) -> None:
    """An abort the store refuses (no right to abort, an id it rejects) is tried again
    by the next push; this push still sends what it has to."""
    keys = s3_server.env(os.environ)
    _with_remote(workspace, mlvc, s3_server, s3_url)
    ledger = workspace / ".mlvc" / "remotes" / "origin" / "uploads"
    ledger.mkdir(parents=True)
    here = ledger.stat()
    bucket, _, prefix = s3_url.removeprefix("s3://").partition("/")
    entry = {"Bucket": bucket, "Key": f"{prefix}/packs/x.pack", "UploadId": "../../x"}
    entry["Ledger"] = f"{here.st_dev}:{here.st_ino}"
    kept = ledger / f"{'0' * 32}.upload"
    kept.write_text(json.dumps(entry))
    (workspace / "small.txt").write_text("small\n")
    mlvc("add", "small.txt")
    pushed: dict[str, Any] = json.loads(mlvc("push", "--json", env=keys).stdout)
    assert pushed["aborted_uploads"] == 0 and pushed["objects"] > 0
    assert json.loads(kept.read_text()) == entry  # for the next push


def test_a_symlinked_ledger_directory_loses_no_file_of_others(
    mlvc: Run, workspace: Path, tmp_path: Path, s3_server: S3Server, s3_url: str
) -> None:
    """Only files of the ledger's own names are ever removed, wherever it points."""
    keys = s3_server.env(os.environ)
    _with_remote(workspace, mlvc, s3_server, s3_url)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    theirs = {"draft.tmp": b"a draft", "notes.upload": b"not json", "a.1.tmp": b""}
    for name, data in theirs.items():
        (elsewhere / name).write_bytes(data)
    (workspace / ".mlvc" / "remotes" / "origin").mkdir(parents=True, exist_ok=True)
    (workspace / ".mlvc" / "remotes" / "origin" / "uploads").symlink_to(elsewhere)
    (workspace / "small.txt").write_text("small\n")
    mlvc("add", "small.txt")
    mlvc("push", env=keys)
    assert {p.name: p.read_bytes() for p in elsewhere.iterdir()} == theirs


def test_an_upload_in_flight_is_never_taken_for_abandoned(tmp_path: Path) -> None:
    ledger = UploadLedger(tmp_path / "uploads")
    upload = {"Bucket": "b", "Key": "p/packs/x.pack", "UploadId": "id/with+odd=chars"}
    with ledger.holding(upload):
        assert list(ledger.abandoned("b", "p")) == []  # its lock is held: a live upload
        assert len(list((tmp_path / "uploads").glob("*.upload"))) == 1
    assert list(ledger.abandoned("b", "p")) == []  # done: nothing left to abort
    assert not any((tmp_path / "uploads").iterdir())


def test_a_temporary_file_removed_before_its_lock_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pushes of one clone: the other's `abandoned` may find this one's temporary
    file in the instant between its creation and its lock, free, and remove it. The
    upload is still written down (not a push failed and its upload left behind)."""
    ledger = UploadLedger(tmp_path / "uploads")
    upload = {"Bucket": "b", "Key": "p/packs/x.pack", "UploadId": "abc"}
    real_flock = fcntl.flock
    raced: list[bool] = []

    def flock_after_the_other_push_looked(fd: int, operation: int) -> None:
        if not raced:  # the first lock this push takes: its temporary file's
            raced.append(True)
            assert list(UploadLedger(tmp_path / "uploads").abandoned("b", "p")) == []
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_the_other_push_looked)
    with ledger.holding(upload):
        monkeypatch.setattr(fcntl, "flock", real_flock)
        assert [p.suffix for p in (tmp_path / "uploads").iterdir()] == [".upload"]
        assert list(ledger.abandoned("b", "p")) == []
    assert raced


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
    (directory / f"{'a' * 32}.upload").write_bytes(b'{"Bucket": "b", "Ke')  # killed mid-write
    (directory / f"{'b' * 32}.7.tmp").write_bytes(b"")  # killed before its rename
    assert list(UploadLedger(directory).abandoned("b", "other")) == []  # not that remote's
    subprocess.run([sys.executable, "-c", code], check=True)
    found = []
    for abandoned, path in UploadLedger(directory).abandoned("b", "p"):
        found.append(abandoned)
        UploadLedger.forget(path)  # aborted
    assert found == [upload]
    assert not any(directory.iterdir())
