"""`mlvc purge -r NAME`: a leaked content leaves the remote's packs too, a tombstone there
keeps a teammate's push from sending it back, and a teammate's fetch learns it was
purged. Over a directory remote and a real S3 server."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from mlvc.store.pack import read_table
from tests.conftest import MLVC, Run, init_store
from tests.remote.seaweed import S3Server


class Shared:
    def __init__(self, url: str, flags: tuple[str, ...], env: dict[str, str], s3: S3Server | None):
        self.url, self.flags, self.env, self.s3 = url, flags, env, s3
        self.scratch = Path(tempfile.mkdtemp(prefix="packs-"))

    def pack_ids(self) -> set[str]:
        """Every object id in the remote's packs, read from the packs themselves."""
        found: set[str] = set()
        if self.s3 is None:
            for pack in Path(self.url).glob("packs/*.pack"):
                found |= {e.id.hex() for e in read_table(pack)}
            return found
        fs = self.s3.filesystem()
        prefix = self.url.removeprefix("s3://")
        for key in fs.ls(f"{prefix}/packs"):
            if key.endswith(".pack"):
                local = self.scratch / key.rsplit("/", 1)[-1]
                fs.get_file(key, str(local))
                found |= {e.id.hex() for e in read_table(local)}
                local.unlink()
        return found


@pytest.fixture(params=["directory", "s3"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Shared:
    if request.param == "directory":
        return Shared(str(tmp_path / "shared"), (), {}, None)
    server: S3Server = request.getfixturevalue("s3_server")
    return Shared(
        f"s3://{server.bucket}/{uuid.uuid4().hex}",
        ("-o", f"endpoint_url={server.endpoint}", "-o", "client_kwargs.region_name=us-east-1"),
        {"AWS_ACCESS_KEY_ID": server.key, "AWS_SECRET_ACCESS_KEY": server.secret},
        server,
    )


def _file_id(workspace: Path, target: str) -> str:
    from mlvc.lineage.resolve import resolve_path_at
    from mlvc.repo import Repo

    repo = Repo.discover(workspace)
    try:
        return resolve_path_at(repo, target).record.id.hex()
    finally:
        repo.close()


def _run(
    cwd: Path, shared: Shared, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [MLVC, *args], cwd=cwd, env={**os.environ, **shared.env}, capture_output=True, text=True
    )
    assert "Traceback" not in done.stderr, done.stderr
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_a_purge_on_the_remote_removes_it_there_and_no_push_brings_it_back(
    mlvc: Run, workspace: Path, tmp_path: Path, shared: Shared
) -> None:
    (workspace / "keep.bin").write_bytes(os.urandom(200_000))
    (workspace / "notes.txt").write_text("API_TOKEN=leaked-0123456789\n")
    init_store(workspace)
    first = json.loads(mlvc("add", "notes.txt", "keep.bin", "--json").stdout)["run_id"]
    (workspace / "notes.txt").write_text("API_TOKEN=rotated\n")
    mlvc("add", "notes.txt")
    _run(workspace, shared, "remote", "add", "origin", shared.url, *shared.flags, "--default")
    _run(workspace, shared, "push")
    leaked = _file_id(workspace, f"notes.txt@{first}")

    teammate = tmp_path / "teammate"  # took everything before the purge
    subprocess.run(["git", "clone", "-q", str(workspace), str(teammate)], check=True)
    _run(teammate, shared, "clone", shared.url, *shared.flags)
    _run(teammate, shared, "pull")
    assert leaked in shared.pack_ids()

    done = json.loads(
        _run(
            workspace, shared, "purge", f"notes.txt@{first}", "-m", "leak", "-r", "origin", "--json"
        ).stdout
    )
    assert done["remotes"][0]["removed"] == 1 and done["remotes"][0]["packs_rewritten"] == 1
    ids = shared.pack_ids()
    assert leaked not in ids and ids  # the rest of the remote is still there

    pushed = json.loads(_run(teammate, shared, "push", "--json").stdout)
    assert leaked not in shared.pack_ids(), pushed  # the tombstone kept it out
    fetched = json.loads(_run(teammate, shared, "fetch", "--json").stdout)
    assert fetched["purged"] == 1

    newcomer = tmp_path / "newcomer"
    subprocess.run(["git", "clone", "-q", str(workspace), str(newcomer)], check=True)
    _run(newcomer, shared, "clone", shared.url, *shared.flags)
    _run(newcomer, shared, "pull")  # everything but the purged content
    read = _run(newcomer, shared, "cat-object", leaked, check=False)
    assert read.returncode == 1 and "was purged" in read.stderr and "leak" in read.stderr
    assert _run(newcomer, shared, "fsck", "--full").returncode == 0
    _run(newcomer, shared, "checkout", first, "keep.bin")
    assert (newcomer / "keep.bin").read_bytes() == (workspace / "keep.bin").read_bytes()


def test_a_content_purged_here_before_can_be_purged_on_a_remote_later(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    shared = Shared(str(tmp_path / "shared"), (), {}, None)
    (workspace / "secret.txt").write_text("leaked\n")
    init_store(workspace)
    first = json.loads(mlvc("add", "secret.txt", "--json").stdout)["run_id"]
    (workspace / "secret.txt").write_text("rotated\n")
    mlvc("add", "secret.txt")
    mlvc("remote", "add", "origin", shared.url, "--default")
    mlvc("push")
    leaked = _file_id(workspace, f"secret.txt@{first}")
    mlvc("purge", f"secret.txt@{first}")
    assert leaked in shared.pack_ids()

    later = json.loads(mlvc("purge", leaked[:12], "-r", "origin", "--json").stdout)
    assert later["already"] is True and later["remotes"][0]["removed"] == 1
    assert leaked not in shared.pack_ids()
