"""Restoring a large file: verified, and in memory that does not grow with its size."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import blake3
import pytest

from mlvc.errors import ObjectNotFoundError
from mlvc.ids import Kind, ObjectId, short
from mlvc.objects import Manifest
from mlvc.porcelain.add import add as lib_add
from mlvc.porcelain.checkout import CheckoutRequest, checkout
from mlvc.repo import Repo
from mlvc.store import places
from mlvc.store.index import Index, Location
from mlvc.store.pack import ALIGN
from mlvc.store.restore import write_file
from tests.conftest import MLVC, Run
from tests.packv1 import as_version_1

MiB = 1 << 20
SPAWN = """
import os, sys
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_checkout_of_a_large_file_keeps_its_pages_out_of_resident_memory(
    mlvc: Run, workspace: Path
) -> None:
    """The restore writes from read-only maps of the packs; it lets go of each span's
    pages once written and hashed, so the peak RSS of `mlvc checkout` stays far under the
    file's size (it was the file's size plus the interpreter before)."""
    size = 256 * MiB
    big = workspace / "big.bin"
    with big.open("wb") as fh:
        for _ in range(size // (32 * MiB)):
            fh.write(os.urandom(32 * MiB))
    digest = blake3.blake3(big.read_bytes()).digest()
    mlvc("init")
    mlvc("add", "big.bin")
    big.unlink()
    # Spawned from a small process: an exec'd process's peak RSS starts at its parent's.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", SPAWN, MLVC, "checkout", "latest"],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=True,
    )
    peak = int(done.stdout.split()[-1]) * 1024
    assert blake3.blake3(big.read_bytes()).digest() == digest
    assert peak < 160 * MiB, f"peak RSS {peak // MiB} MiB for a {size // MiB} MiB file"


def _added(repo: Repo, workspace: Path, size: int) -> tuple[bytes, bytes]:
    """(file id, bytes) of an incompressible file of `size` bytes added to `repo`."""
    data = os.urandom(size)
    (workspace / "big.bin").write_bytes(data)
    result = lib_add(repo, [Path("big.bin")], workspace, {"user": "restore"})
    return result.paths[0].id, data


def _restored(repo: Repo, oid: bytes, path: Path) -> bytes:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        write_file(repo.store, oid, fd)
    finally:
        os.close(fd)
    return path.read_bytes()


def test_neighbouring_chunks_are_copied_by_the_kernel_a_run_per_call(
    repo: Repo, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version-2 pack holds a file's chunks back to back: the restore asks the kernel
    to copy whole runs of them, not one call per chunk."""
    oid, data = _added(repo, workspace, 6 * MiB)
    manifest = Manifest.decode(repo.store.get(oid)[1], "manifest")
    chunks = len(list(repo.store.chunk_parts(manifest)))
    calls: list[int] = []
    copy = os.copy_file_range

    def counted(src: int, dst: int, count: int, *offsets: int) -> int:
        calls.append(count)
        return copy(src, dst, count, *offsets)

    monkeypatch.setattr(os, "copy_file_range", counted)
    assert _restored(repo, oid, tmp_path / "out") == data
    assert chunks >= 20
    assert 0 < len(calls) < chunks // 4, (len(calls), chunks)


def test_an_added_files_chunks_lie_at_its_offsets_modulo_a_page(
    repo: Repo, workspace: Path
) -> None:
    """So that the kernel copies whole pages for a checkout (pack.ALIGN)."""
    oid, _ = _added(repo, workspace, 6 * MiB)
    manifest = Manifest.decode(repo.store.get(oid)[1], "manifest")
    offset = 0
    spots = repo.index.locate_many([p.id for p in repo.store.chunk_parts(manifest)])
    for part in repo.store.chunk_parts(manifest):
        assert spots[part.id].entry.offset % ALIGN == offset % ALIGN
        offset += part.length
    assert offset == 6 * MiB


def test_a_restore_into_another_file_system_is_whole_and_right(
    repo: Repo, workspace: Path, tmp_path: Path
) -> None:
    """The target on tmpfs (/dev/shm where there is one), the packs on the disk: the
    kernel copies across, or refuses (EXDEV) and the maps write it. Either way the
    bytes are the file's."""
    oid, data = _added(repo, workspace, 10 * MiB)
    shm = Path("/dev/shm")
    target = Path(tempfile.mkdtemp(dir=shm if shm.is_dir() else tmp_path))
    try:
        assert _restored(repo, oid, target / "out") == data
    finally:
        shutil.rmtree(target)


@pytest.mark.parametrize("copied_first", [0, 1])
def test_where_the_kernel_will_not_copy_the_chunks_are_written_from_the_maps(
    repo: Repo,
    workspace: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    copied_first: int,
) -> None:
    """`copy_file_range` refused (files on two file systems, an old kernel, a seccomp
    filter), at once or after a first span: the file is whole and right, and the kernel
    is not asked again."""
    oid, data = _added(repo, workspace, 20 * MiB)  # three spans of up to 8 MiB
    calls: list[int] = []
    copy = os.copy_file_range

    def refusing(src: int, dst: int, count: int, *offsets: int) -> int:
        calls.append(count)
        if len(calls) > copied_first:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        return copy(src, dst, count, *offsets)

    monkeypatch.setattr(os, "copy_file_range", refusing)
    assert _restored(repo, oid, tmp_path / "out") == data
    assert len(calls) == copied_first + 1


def test_a_failing_kernel_copy_that_is_not_a_refusal_is_raised(
    repo: Repo, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk during the copy is an error for the caller (a checkout reports it and
    removes its temporary file), not a reason to write the same bytes another way."""
    oid, _ = _added(repo, workspace, 3 * MiB)

    def full(*args: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "copy_file_range", full)
    with pytest.raises(OSError) as raised:
        _restored(repo, oid, tmp_path / "out")
    assert raised.value.errno == errno.ENOSPC


def test_a_store_of_version_1_packs_still_checks_out(mlvc: Run, workspace: Path) -> None:
    """Packs an older mlvc wrote (an entry header before each entry, so no two chunks
    are neighbours) are read as before: a checkout restores them bit for bit."""
    mlvc("init")
    big = os.urandom(3 * MiB)
    (workspace / "big.bin").write_bytes(big)
    (workspace / "small.txt").write_text("a small file\n")
    mlvc("add", "big.bin", "small.txt")
    packs = sorted((workspace / ".mlvc" / "packs").glob("*.pack"))
    assert packs
    for pack in packs:
        with pack.open("rb") as handle:
            assert handle.read(12)[8:] == (2).to_bytes(4, "little")
        as_version_1(pack)
    mlvc("index", "rebuild")
    (workspace / "big.bin").unlink()
    (workspace / "small.txt").unlink()
    mlvc("checkout", "latest")
    assert (workspace / "big.bin").read_bytes() == big
    assert (workspace / "small.txt").read_text() == "a small file\n"
    assert mlvc("fsck", "--full").returncode == 0


def _asked(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every id the index is asked to place or to name the kind of, from now on."""
    asked: list[bytes] = []
    locate_many, kinds = Index.locate_many, Index.kinds

    def counted_locate(index: Index, oids: list[bytes]) -> dict[bytes, Location]:
        asked.extend(oids)
        return locate_many(index, oids)

    def counted_kinds(index: Index, oids: list[bytes]) -> dict[bytes, Kind]:
        asked.extend(oids)
        return kinds(index, oids)

    monkeypatch.setattr(Index, "locate_many", counted_locate)
    monkeypatch.setattr(Index, "kinds", counted_kinds)
    return asked


def _added_then_deleted(repo: Repo, workspace: Path, size: int) -> tuple[bytes, bytes, ObjectId]:
    """(file id, bytes, run) of an incompressible file added, then deleted."""
    data = os.urandom(size)
    (workspace / "big.bin").write_bytes(data)
    result = lib_add(repo, [Path("big.bin")], workspace, {"user": "restore"})
    assert result.run_id is not None
    (workspace / "big.bin").unlink()
    return result.paths[0].id, data, result.run_id


def test_a_checkout_looks_each_chunk_of_a_large_file_up_once(
    repo: Repo, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check that every chunk is here, before anything is written, keeps the places
    it looked up for the restore (the two asked for each chunk once each before)."""
    oid, data, run_id = _added_then_deleted(repo, workspace, 6 * MiB)
    chunks = [p.id for p in repo.store.chunk_parts(Manifest.decode(repo.store.get(oid)[1]))]
    asked = _asked(monkeypatch)
    checkout(repo, CheckoutRequest(run_id))
    assert (workspace / "big.bin").read_bytes() == data
    assert len(chunks) >= 20
    assert sorted(a for a in asked if a in set(chunks)) == sorted(chunks)
    assert repo.store.plan_of(oid) is None  # dropped with the checkout's lookups


def test_a_file_too_large_to_keep_its_places_is_looked_up_again(
    repo: Repo, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past PLANNED chunks the check walks the file as any object (memory stays bounded)
    and the restore looks its chunks up itself: the file is still whole and right."""
    monkeypatch.setattr(places, "PLANNED", 4)
    oid, data, run_id = _added_then_deleted(repo, workspace, 3 * MiB)
    chunks = [p.id for p in repo.store.chunk_parts(Manifest.decode(repo.store.get(oid)[1]))]
    asked = _asked(monkeypatch)
    checkout(repo, CheckoutRequest(run_id))
    assert (workspace / "big.bin").read_bytes() == data
    assert len(chunks) > 4
    assert sorted(a for a in asked if a in set(chunks)) == sorted(chunks * 2)


def test_plans_stop_where_the_room_ends_and_every_file_is_still_right(
    repo: Repo, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many files of a few chunks each: plans are kept for the first, up to PLANNED
    chunks in all; the rest are checked as any object and restored alike."""
    monkeypatch.setattr(places, "PLANNED", 12)
    kept: list[int] = []
    keep = places.Places.keep_plan

    def counted(store: places.Places, oid: bytes, plan: places.FilePlan) -> None:
        kept.append(len(plan.parts))
        keep(store, oid, plan)

    monkeypatch.setattr(places.Places, "keep_plan", counted)
    files = {f"f{i}.bin": os.urandom(400 * 1024) for i in range(8)}
    for name, data in files.items():
        (workspace / name).write_bytes(data)
    result = lib_add(repo, [Path(name) for name in files], workspace, {"user": "restore"})
    assert result.run_id is not None
    for name in files:
        (workspace / name).unlink()
    checkout(repo, CheckoutRequest(result.run_id))
    for name, data in files.items():
        assert (workspace / name).read_bytes() == data
    assert kept and sum(kept) <= 12
    assert len(kept) < len(files)
    assert repo.store.room_for_plan(1) is False  # outside the checkout: no plans at all


def test_a_missing_chunk_of_a_large_file_stops_the_checkout_before_it_writes(
    repo: Repo, workspace: Path
) -> None:
    """A chunk the index no longer places (a run fetched without its data, a lost row):
    the check names it and nothing is written."""
    oid, _, run_id = _added_then_deleted(repo, workspace, 3 * MiB)
    parts = list(repo.store.chunk_parts(Manifest.decode(repo.store.get(oid)[1])))
    lost = parts[len(parts) // 2].id
    with repo.index.transaction():
        repo.index.db.execute("DELETE FROM objects WHERE id = ?", (lost,))
    with pytest.raises(ObjectNotFoundError) as raised:
        checkout(repo, CheckoutRequest(run_id))
    assert short(lost) in str(raised.value)
    assert "1 object(s)" in str(raised.value)
    assert not (workspace / "big.bin").exists()
