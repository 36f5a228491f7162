"""`mlvc push`, end to end through the real `mlvc` command, to a directory remote and to
a real S3 server (SeaweedFS), whose keys reach mlvc only through the environment."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlvc.repo import Repo
from mlvc.store.connect import open_transport
from mlvc.store.remote import Remote
from mlvc.store.upload import PUSH_PACK
from tests.conftest import Run, init_store
from tests.remote.seaweed import S3Server


@dataclass(frozen=True)
class Target:
    url: str
    options: dict[str, Any]  # for reading the remote back in the test
    flags: tuple[str, ...]  # `-o` options for `mlvc remote add`
    env: dict[str, str]  # credentials, as a user would provide them

    def reader(self, cache: Path) -> Remote:
        """The remote seen from another machine (an empty cache)."""
        return Remote("check", open_transport(self.url, self.options), cache)


@pytest.fixture(params=["directory", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "directory":
        return Target(str(tmp_path / "shared"), {}, (), {})
    server: S3Server = request.getfixturevalue("s3_server")
    url: str = request.getfixturevalue("s3_url")
    return Target(
        url,
        server.options(),
        ("-o", f"endpoint_url={server.endpoint}", "-o", "client_kwargs.region_name=us-east-1"),
        {"AWS_ACCESS_KEY_ID": server.key, "AWS_SECRET_ACCESS_KEY": server.secret},
    )


def _setup(mlvc: Run, workspace: Path, target: Target) -> None:
    init_store(workspace)
    mlvc("remote", "add", "origin", target.url, *target.flags, "--default")


def _push(mlvc: Run, target: Target, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(mlvc("push", "--json", *args, env=target.env).stdout)
    return result


def _local(workspace: Path) -> tuple[set[bytes], set[bytes]]:
    repo = Repo.discover(workspace)
    try:
        objects = {e.id for entries in repo.index.entries_by_pack().values() for e in entries}
        runs = set(repo.index.history.run_ids(ok_only=False))
    finally:
        repo.close()
    return objects, runs


def test_push_sends_everything_once_and_it_reads_back_verified(
    mlvc: Run, workspace: Path, target: Target, tmp_path: Path
) -> None:
    _setup(mlvc, workspace, target)
    data = workspace / "data"
    data.mkdir()
    for i in range(400):  # many small files: they must travel in a few packs
        (data / f"f{i:03}.csv").write_text(f"id,value\n{i},{i * i}\n")
    (data / "weights.bin").write_bytes(random.Random(3).randbytes(3 << 20))
    mlvc("add", "data", "-m", "raw data")
    mlvc("run", "-i", "data", "-o", "count.txt", "--", "sh", "-c", "ls data | wc -l > count.txt")

    first = _push(mlvc, target)
    objects, runs = _local(workspace)
    assert first["objects"] == len(objects) and first["runs"] == len(runs) == 2
    assert first["packs"] == 2  # one metadata pack, one data pack: never one per file
    assert first["requests"] < 20

    reader = target.reader(tmp_path / "reader-cache")
    packs = reader.packs()
    assert {e.id for p in packs.values() for e in p.entries} == objects
    assert reader.runs() == runs
    for pack in packs.values():  # every object verified against its id and schema
        assert set(reader.read_objects(pack, pack.entries)) == {e.id for e in pack.entries}

    again = _push(mlvc, target)
    assert (again["objects"], again["packs"], again["runs"]) == (0, 0, 0)
    assert mlvc("push", env=target.env).stdout.startswith("remote origin is up to date")


def test_packs_pushed_are_at_least_64_mib_but_the_last(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    # Which packs a push makes does not depend on the transport: a directory remote
    # suffices, and spares the suite 130 MiB through the S3 server.
    target = Target(str(tmp_path / "shared"), {}, (), {})
    _setup(mlvc, workspace, target)
    rng = random.Random(4)
    parts = [f"part{i}.bin" for i in range(10)]
    for name in parts:
        (workspace / name).write_bytes(rng.randbytes(13 << 20))
    mlvc("add", *parts[:3])  # two local packs, each smaller than a push pack:
    mlvc("add", *parts[3:5])  # their objects are re-packed
    _push(mlvc, target)
    reader = target.reader(tmp_path / "cache")
    sizes = sorted((p.size for p in reader.packs().values()), reverse=True)
    assert sizes[0] >= PUSH_PACK and sizes[1] < PUSH_PACK and len(sizes) == 3  # + metadata

    mlvc("add", *parts[5:])  # one local pack of 65 MiB: it goes as it is
    local = {p.stem: p.stat().st_size for p in (workspace / ".mlvc" / "packs").glob("*.pack")}
    before = set(reader.packs())
    _push(mlvc, target)
    added = {name: pack.size for name, pack in reader.packs().items() if name not in before}
    big = [name for name, size in added.items() if size >= PUSH_PACK]
    assert len(big) == 1 and local.get(big[0]) == added[big[0]]


def test_an_interrupted_push_is_completed_by_the_next(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    target = Target(str(shared), {}, (), {})
    _setup(mlvc, workspace, target)
    (workspace / "a.txt").write_text("alpha\n")
    mlvc("add", "a.txt")
    _push(mlvc, target)
    # What a push killed after its pack uploads but before their index files and run list
    # leaves behind: packs nobody trusts yet.
    for leftover in [*shared.glob("packs/*.idx"), *shared.glob("runs/*")]:
        leftover.unlink()
    assert target.reader(tmp_path / "empty-cache").packs() == {}
    mlvc("remote", "remove", "origin")  # drops the local cache of the remote too
    mlvc("remote", "add", "origin", str(shared))
    resumed = _push(mlvc, target)
    objects, runs = _local(workspace)
    assert resumed["objects"] == len(objects) and resumed["runs"] == len(runs)
    reader = target.reader(tmp_path / "reader-cache")
    assert {e.id for p in reader.packs().values() for e in p.entries} == objects


def test_s3_keys_come_from_the_environment_only(
    mlvc: Run, workspace: Path, s3_server: S3Server, s3_url: str
) -> None:
    init_store(workspace)
    endpoint = f"endpoint_url={s3_server.endpoint}"
    mlvc("remote", "add", "origin", s3_url, "-o", endpoint)
    (workspace / "a.txt").write_text("alpha\n")
    mlvc("add", "a.txt")
    refused = mlvc(
        "push", check=False, env={"AWS_ACCESS_KEY_ID": "nobody", "AWS_SECRET_ACCESS_KEY": "x"}
    )
    assert refused.returncode == 1 and "denied" in refused.stderr
    keys = {"AWS_ACCESS_KEY_ID": s3_server.key, "AWS_SECRET_ACCESS_KEY": s3_server.secret}
    assert mlvc("push", env=keys).stdout.startswith("pushed ")
    stored = (workspace / ".mlvc" / "config.toml").read_text()
    assert s3_server.secret not in stored and s3_server.key not in stored


def test_push_without_a_remote_says_how_to_add_one(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    result = mlvc("push", check=False)
    assert result.returncode == 1
    assert "error: no remote configured" in result.stderr
    assert "mlvc remote add" in result.stderr


def test_an_unreachable_or_misconfigured_remote_is_an_error_not_a_crash(
    mlvc: Run, workspace: Path
) -> None:
    init_store(workspace)
    closed = "endpoint_url=http://127.0.0.1:9"  # the discard port: nothing listens
    mlvc("remote", "add", "down", "s3://bucket/p", "-o", closed, "-o",
         "config_kwargs.retries.max_attempts=1")  # fmt: skip
    mlvc("remote", "add", "odd", "s3://bucket/p", "-o", closed, "-o", "no_such_option=1")
    keys = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    down = mlvc("push", "-r", "down", check=False, env=keys)
    assert down.returncode == 1 and "Could not connect to the endpoint URL" in down.stderr
    odd = mlvc("push", "-r", "odd", check=False, env=keys)
    assert odd.returncode == 1 and "does not take its options" in odd.stderr


def test_an_s3_remote_without_the_s3_packages_is_an_error_not_a_crash(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    init_store(workspace)
    mlvc("remote", "add", "s3", "s3://bucket/p", "-o", "endpoint_url=http://127.0.0.1:9")
    absent = tmp_path / "absent"  # mlvc installed without its s3 extra: no botocore, no s3fs
    absent.mkdir()
    (absent / "botocore.py").write_text("raise ModuleNotFoundError(name='botocore')\n")
    for command in ("push", "pull"):
        done = mlvc(command, "-r", "s3", check=False, env={"PYTHONPATH": str(absent)})
        assert done.returncode == 1, done.stderr
        assert "cannot open remote s3://bucket/p: Install s3fs to access S3" in done.stderr


def test_the_scratch_packs_of_a_killed_push_are_removed_by_the_next(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    target = Target(str(tmp_path / "shared"), {}, (), {})
    _setup(mlvc, workspace, target)
    (workspace / "a.txt").write_text("alpha\n")
    mlvc("add", "a.txt")
    scratch = workspace / ".mlvc" / "tmp"
    gone = scratch / "push-4194303-abc"  # above any pid this machine hands out (pid_max)
    gone.mkdir(parents=True)
    (gone / "tmp-1.pack").write_bytes(b"half a pack")
    live = scratch / f"push-{os.getpid()}-def"  # a push still running (this process)
    live.mkdir()
    _push(mlvc, target)
    assert not gone.exists() and live.exists()
