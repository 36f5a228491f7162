"""`mlvc fsck`: each kind of damage is found and named, and `--repair` restores what can
be restored (from a remote when one holds it) without deleting data."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlvc.store.pack import read_table
from tests.conftest import MLVC, Pipeline, Template, build_pipeline


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, ran_template: Template) -> Pipeline:
    return build_pipeline(tmp_path_factory, ran_template)


def _mlvc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLVC, *args], cwd=cwd, capture_output=True, text=True)


def _fsck(cwd: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = _mlvc(cwd, "fsck", "--json", *args)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def _kinds(report: dict[str, Any]) -> set[str]:
    return {p["kind"] for p in report["problems"]}


def _data_pack(store: Path) -> Path:
    packs = [p for p in (store / ".mlvc" / "packs").glob("*.pack")]
    return max(packs, key=lambda p: p.stat().st_size)


def _pack_holding(store: Path, target: str) -> Path:
    from mlvc.lineage.resolve import resolve_path_at
    from mlvc.repo import Repo

    repo = Repo.discover(store)
    try:
        location = repo.index.locate(resolve_path_at(repo, target).record.id)
        assert location is not None
        return store / ".mlvc" / "packs" / f"{location.pack}.pack"
    finally:
        repo.close()


def _flip(path: Path, offset: int) -> None:
    os.chmod(path, 0o644)
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))


def test_a_sound_store_is_clean(store: Path) -> None:
    for args in ((), ("--full",)):
        code, report = _fsck(store, *args)
        assert code == 0 and report["clean"] is True
        assert not [p for p in report["problems"] if p["kind"] != "orphan-objects"]


def test_a_flipped_byte_is_found_by_full_and_repaired_from_a_remote(
    store: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    assert _mlvc(store, "remote", "add", "origin", str(shared), "--default").returncode == 0
    assert _mlvc(store, "push").returncode == 0
    pack = _data_pack(store)
    victim = max(read_table(pack), key=lambda e: e.stored_len)
    _flip(pack, victim.offset + victim.stored_len // 2)

    assert _fsck(store)[0] == 0  # metadata only: the bytes are not read
    code, report = _fsck(store, "--full")
    assert code == 1
    (problem,) = [p for p in report["problems"] if p["kind"] == "corrupt-object"]
    assert problem["id"] == victim.id.hex() and problem["file"] == f"packs/{pack.name}"

    code, repaired = _fsck(store, "--repair")
    assert code == 0 and repaired["clean"], repaired
    assert any("took 1 missing object" in line for line in repaired["repaired"])
    assert (store / ".mlvc" / "quarantine" / pack.name).exists()  # kept for a person
    assert _fsck(store, "--full")[0] == 0
    assert _mlvc(store, "checkout", "latest", "--force").returncode == 0


def test_without_a_remote_repair_keeps_the_rest_and_names_what_is_lost(store: Path) -> None:
    pack = _data_pack(store)
    victim = max(read_table(pack), key=lambda e: e.stored_len)
    _flip(pack, victim.offset + victim.stored_len // 2)
    code, repaired = _fsck(store, "--repair")
    assert code == 1
    missing = [p for p in repaired["problems"] if p["kind"] == "missing-object"]
    assert [p["id"] for p in missing] == [victim.id.hex()]
    assert len(json.loads(_mlvc(store, "log", "--json").stdout)["runs"]) == 5  # every run


def test_a_damaged_pack_trailer_is_quarantined(store: Path) -> None:
    pack = _data_pack(store)
    _flip(pack, pack.stat().st_size - 100)  # inside the entry table
    code, report = _fsck(store)
    assert code == 1 and "damaged-pack" in _kinds(report)
    code, repaired = _fsck(store, "--repair")
    assert (store / ".mlvc" / "quarantine" / pack.name).exists()
    assert "damaged-pack" not in _kinds(repaired)


def test_a_lost_index_is_rebuilt_with_exactly_the_committed_runs(store: Path) -> None:
    before = json.loads(_mlvc(store, "log", "--json").stdout)
    for name in ("index.db", "index.db-wal", "index.db-shm", "worktree.msgpack"):
        (store / ".mlvc" / name).unlink(missing_ok=True)
    code, report = _fsck(store)
    assert code == 1 and "damaged-index" in _kinds(report)
    code, repaired = _fsck(store, "--repair")
    assert code == 0, repaired
    assert json.loads(_mlvc(store, "log", "--json").stdout) == before


def test_leftovers_bad_tags_and_torn_log_lines_are_named(store: Path) -> None:
    mlvc_dir = store / ".mlvc"
    (mlvc_dir / "packs" / "tmp-4194303-abc.pack").write_bytes(b"half a pack")
    (mlvc_dir / "refs" / "tags" / "junk").write_text("not a run id\n")
    (mlvc_dir / "refs" / "tags" / "gone").write_text("ab" * 32 + "\n")
    with open(mlvc_dir / "runs.log", "ab") as handle:
        handle.write(b"0123")
    code, report = _fsck(store)
    assert code == 1
    assert {"temp-file", "bad-tag", "dangling-tag", "run-log-line"} <= _kinds(report)
    code, repaired = _fsck(store, "--repair")
    assert not (mlvc_dir / "packs" / "tmp-4194303-abc.pack").exists()
    assert "temp-file" not in _kinds(repaired)


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_a_truncated_or_deleted_pack_is_named_and_taken_again_from_a_remote(
    store: Path, tmp_path: Path, damage: str
) -> None:
    assert (
        _mlvc(store, "remote", "add", "origin", str(tmp_path / "shared"), "--default").returncode
        == 0
    )
    assert _mlvc(store, "push").returncode == 0
    pack = _pack_holding(store, "model/model.json@latest")
    os.chmod(pack, 0o644)
    if damage == "truncate":
        with open(pack, "r+b") as handle:
            handle.truncate(64)  # the header stays, every entry is cut off
    else:
        pack.unlink()
    code, report = _fsck(store)
    assert code == 1
    named = [p for p in report["problems"] if p["file"] == f"packs/{pack.name}"]
    assert named and named[0]["kind"] == (
        "damaged-pack" if damage == "truncate" else "missing-pack"
    )
    (store / "model").rename(store / "model.before")  # a checkout must read the lost bytes
    failed = _mlvc(store, "checkout", "latest")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert pack.name[:12] in failed.stderr or "fsck" in failed.stderr

    code, repaired = _fsck(store, "--repair")
    assert code == 0 and repaired["clean"], repaired
    assert _mlvc(store, "checkout", "latest").returncode == 0
    for path in (store / "model.before").rglob("*"):
        if path.is_file():
            again = store / "model" / path.relative_to(store / "model.before")
            assert again.read_bytes() == path.read_bytes()


def _damage(path: Path, how: str, at: int) -> None:
    """Flip the byte at `at`, cut the file at `at`, or delete it."""
    if how == "flip":
        _flip(path, at)
    elif how == "truncate":
        os.chmod(path, 0o644)
        with open(path, "r+b") as handle:
            handle.truncate(at)
    else:
        path.unlink()


@pytest.mark.parametrize("how", ["flip", "truncate", "delete"])
def test_a_damaged_run_log_loses_no_run_through_repair_and_rebuild(store: Path, how: str) -> None:
    log = store / ".mlvc" / "runs.log"
    before = json.loads(_mlvc(store, "log", "--json").stdout)
    _damage(log, how, 5 if how == "flip" else log.stat().st_size - 20)
    assert json.loads(_mlvc(store, "log", "--json").stdout) == before  # reads use the index
    code, report = _fsck(store)
    if how == "delete":
        assert code == 0 and "no-run-log" in _kinds(report)  # a note: an older store has none
    else:
        assert code == 1 and {"run-log-line", "unlogged-run"} <= _kinds(report)
    code, repaired = _fsck(store, "--repair")
    assert code == 0 and not _kinds(repaired) & {"run-log-line", "no-run-log"}, repaired
    assert any("runs.log anew" in line for line in repaired["repaired"])
    assert _mlvc(store, "index", "rebuild").returncode == 0
    assert json.loads(_mlvc(store, "log", "--json").stdout) == before


@pytest.mark.parametrize("how", ["flip", "truncate", "delete"])
def test_a_damaged_purged_list_is_named_and_never_crashes_a_read(store: Path, how: str) -> None:
    secret = store / "secret.txt"
    secret.write_text("leaked\n")
    first = json.loads(_mlvc(store, "add", "secret.txt", "--json").stdout)["run_id"]
    secret.write_text("rotated\n")
    assert _mlvc(store, "add", "secret.txt").returncode == 0
    assert _mlvc(store, "purge", f"secret.txt@{first}", "-m", "leak").returncode == 0
    stone = json.loads((store / ".mlvc" / "purged").read_text())["id"]
    _damage(store / ".mlvc" / "purged", how, 2 if how == "flip" else 30)  # 2: the "id" key

    shown = _mlvc(store, "cat-object", stone)
    assert shown.returncode == 1 and "Traceback" not in shown.stderr
    assert _mlvc(store, "log", "--json").returncode == 0
    code, report = _fsck(store)
    assert code == 1
    if how == "delete":  # the tombstone is gone: the object is named as missing
        assert {p["id"] for p in report["problems"] if p["kind"] == "missing-object"} == {stone}
        return
    assert [p["file"] for p in report["problems"] if p["kind"] == "purged-line"] == ["purged"]
    code, repaired = _fsck(store, "--repair")
    assert "purged-line" not in _kinds(repaired)
    assert list((store / ".mlvc" / "quarantine").glob("purged-*"))  # the damaged copy kept


@pytest.mark.parametrize("how", ["flip", "truncate", "delete"])
def test_a_damaged_remote_cache_is_read_again_from_the_remote(
    store: Path, tmp_path: Path, how: str
) -> None:
    shared = tmp_path / "shared"
    assert _mlvc(store, "tag", "prod", "latest").returncode == 0
    assert _mlvc(store, "remote", "add", "origin", str(shared), "--default").returncode == 0
    assert _mlvc(store, "push").returncode == 0
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(store), str(clone)], check=True)
    assert _mlvc(clone, "clone", str(shared)).returncode == 0
    cache = clone / ".mlvc" / "remotes" / "origin"
    cached = sorted(
        p for p in cache.rglob("*") if p.is_file() and p.suffix in {".idx", ".runs", ".json"}
    )
    assert {p.suffix for p in cached} == {".idx", ".runs", ".json"}
    for path in cached:
        _damage(path, how, 3 if how == "flip" else path.stat().st_size // 2)
    before = json.loads(_mlvc(clone, "log", "--json").stdout)
    (clone / ".mlvc" / "refs" / "tags" / "prod").unlink()  # fetch reads the tag's history

    fetched = _mlvc(clone, "fetch", "--json")
    assert fetched.returncode == 0 and "Traceback" not in fetched.stderr, fetched.stderr
    for path in cached:
        original = shared / path.relative_to(cache)
        if path.suffix == ".json":  # logs/NAME/<file> here, logs/tags/NAME/<file> there
            original = shared / "logs" / "tags" / path.relative_to(cache / "logs")
        assert path.read_bytes() == original.read_bytes()
    assert json.loads(_mlvc(clone, "log", "--json").stdout) == before
    assert (clone / ".mlvc" / "refs" / "tags" / "prod").exists()
    assert _mlvc(clone, "pull").returncode == 0 and _fsck(clone, "--full")[0] == 0


@pytest.mark.parametrize("how", ["flip", "truncate", "delete"])
def test_a_damaged_or_lost_config_is_named_and_written_again_by_repair(
    store: Path, how: str
) -> None:
    config = store / ".mlvc" / "config.toml"
    original = config.read_bytes()
    before = json.loads(_mlvc(store, "log", "--json").stdout)
    at = original.index(b"[chunking]") + 1 if how == "flip" else original.index(b"avg_size")
    _damage(config, how, at)  # flip: "[chunking]" becomes "[bhunking]"

    failed = _mlvc(store, "status")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "config.toml" in failed.stderr and "hint:" in failed.stderr
    code, repaired = _fsck(store, "--repair")
    assert code == 0, repaired
    assert any("config.toml again" in line for line in repaired["repaired"])
    assert config.read_bytes() == original  # the chunking the index recorded
    assert json.loads(_mlvc(store, "log", "--json").stdout) == before
    if how != "delete":
        assert list((store / ".mlvc" / "quarantine").glob("config.toml-*"))
