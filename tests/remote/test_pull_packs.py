"""How a pull keeps what it takes: a remote pack mostly wanted is kept whole, as it is
(verified entry by entry first); from a pack little wanted, only the wanted entries are
read and stored. Either way the store checks clean and checks out bit for bit."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from pathlib import Path

from mlvc.forked import FORK_MIN
from mlvc.ids import Kind, ObjectId
from mlvc.store.download import WHOLE_MAX, _whole
from mlvc.store.entry import Entry
from mlvc.store.pack import ENTRY, HEADER, MAGIC, NO_CHECK
from mlvc.store.remote import RemotePack
from tests.conftest import Run, init_store
from tests.packv1 import remote_as_version_1


def _pushed_pair(mlvc: Run, workspace: Path, shared: Path) -> str:
    """a.bin (1 MB) and b.bin (3 MB) added in one run, so one data pack, and pushed."""
    init_store(workspace)
    mlvc("remote", "add", "origin", str(shared), "--default")
    (workspace / "a.bin").write_bytes(os.urandom(1 << 20))
    (workspace / "b.bin").write_bytes(os.urandom(3 << 20))
    run: str = json.loads(mlvc("add", "a.bin", "b.bin", "--json").stdout)["run_id"]
    mlvc("push")
    return run


def _pull_refused(mlvc: Run, shared: Path, clone: Path) -> str:
    """A clone of the (damaged) directory remote `shared` whose pull fails, keeping no
    pack: the pull's error text."""
    clone.mkdir()
    mlvc("clone", str(shared), cwd=clone)
    before = sorted(p.name for p in (clone / ".mlvc" / "packs").iterdir())
    failed = mlvc("pull", cwd=clone, check=False)
    assert failed.returncode == 1, failed.stderr
    assert "Traceback" not in failed.stderr
    assert sorted(p.name for p in (clone / ".mlvc" / "packs").iterdir()) == before
    return failed.stderr


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _checks_out_alone(mlvc: Run, clone: Path, run: str, workspace: Path) -> None:
    """The clone's store is sound, and without its remote checks `run` out bit for bit."""
    assert mlvc("fsck", "--full", cwd=clone).returncode == 0
    mlvc("remote", "remove", "origin", cwd=clone)
    mlvc("checkout", run, cwd=clone)
    for name in ("a.bin", "b.bin"):
        assert _digest(clone / name) == _digest(workspace / name)


def test_a_little_wanted_pack_is_read_by_ranges_and_a_mostly_wanted_one_kept_whole(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    run = _pushed_pair(mlvc, workspace, shared)
    data_pack = max(shared.glob("packs/*.pack"), key=lambda p: p.stat().st_size)
    b = tmp_path / "b"
    b.mkdir()
    mlvc("clone", str(shared), cwd=b)

    mlvc("pull", f"a.bin@{run}", cwd=b)  # a quarter of the pack: its entries only
    local = {p.name for p in (b / ".mlvc" / "packs").glob("*.pack")}
    assert data_pack.name not in local
    assert sum((b / ".mlvc" / "packs" / name).stat().st_size for name in local) < 2 << 20

    mlvc("pull", cwd=b)  # the rest is three quarters of it: kept as the remote has it
    kept = b / ".mlvc" / "packs" / data_pack.name
    assert kept.read_bytes() == data_pack.read_bytes()
    _checks_out_alone(mlvc, b, run, workspace)


def test_a_version_1_pack_on_a_remote_is_pulled_whole_and_checks_out(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    """A remote an older mlvc pushed to holds version-1 packs (an entry header before
    each entry): a pull verifies their headers too, keeps the pack as it is, and the
    store reads it."""
    shared = tmp_path / "shared"
    run = _pushed_pair(mlvc, workspace, shared)
    data_pack = max(shared.glob("packs/*.pack"), key=lambda p: p.stat().st_size)
    old = remote_as_version_1(data_pack)
    b = tmp_path / "b"
    b.mkdir()
    mlvc("clone", str(shared), cwd=b)
    mlvc("pull", cwd=b)
    kept = b / ".mlvc" / "packs" / old.name
    assert kept.read_bytes()[:16] == HEADER.pack(MAGIC, 1, 0)
    assert kept.read_bytes() == old.read_bytes()
    _checks_out_alone(mlvc, b, run, workspace)


def test_a_damaged_entry_header_in_a_whole_version_1_pack_is_refused_and_nothing_kept(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    _pushed_pair(mlvc, workspace, shared)
    data_pack = max(shared.glob("packs/*.pack"), key=lambda p: p.stat().st_size)
    data_pack = remote_as_version_1(data_pack)
    from mlvc.store.pack import read_table

    victim = read_table(data_pack)[-1]
    data = bytearray(data_pack.read_bytes())
    data[victim.offset - ENTRY.size + 40] ^= 0x01  # inside the header's copy of the id
    os.chmod(data_pack, 0o644)
    data_pack.write_bytes(bytes(data))
    failed = _pull_refused(mlvc, shared, tmp_path / "b")
    assert f"corrupt object {victim.id.hex()}: its entry header is damaged" in failed


def test_a_version_2_pack_holds_no_entry_headers_and_a_flip_between_entries_is_caught(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    """Where a version-1 pack had a header, a version-2 pack has the previous entry's
    last byte (a file's chunks lie back to back, the first at its file offset modulo
    a page): a flip there is caught by that entry's id, and nothing is kept."""
    shared = tmp_path / "shared"
    _pushed_pair(mlvc, workspace, shared)
    data_pack = max(shared.glob("packs/*.pack"), key=lambda p: p.stat().st_size)
    from mlvc.store.pack import ALIGN, read_table

    entries = read_table(data_pack)
    assert entries[0].offset == ALIGN  # a.bin's first chunk, at its offset 0
    touching = [
        (a, b) for a, b in itertools.pairwise(entries) if a.offset + a.stored_len == b.offset
    ]
    assert len(touching) >= len(entries) - 2  # a break only where b.bin begins
    before, victim = touching[-1]
    data = bytearray(data_pack.read_bytes())
    data[victim.offset - 1] ^= 0x01  # the last byte of the entry before it
    os.chmod(data_pack, 0o644)
    data_pack.write_bytes(bytes(data))
    failed = _pull_refused(mlvc, shared, tmp_path / "b")
    assert f"corrupt object {before.id.hex()}" in failed


def _chunk(n: int, offset: int, size: int) -> Entry:
    return Entry(ObjectId(bytes([n]) * 32), Kind.CHUNK, 0, offset, size, size, NO_CHECK)


def test_whole_packs_are_only_those_mostly_wanted_small_enough_all_data_and_unpurged() -> None:
    entries = (_chunk(1, 100, 700), _chunk(2, 850, 300))
    pack = RemotePack("ab" * 32, 1200, entries)
    assert _whole(pack, [entries[0]], set())
    assert not _whole(pack, [entries[1]], set())  # a quarter wanted
    assert not _whole(pack, [entries[0]], {entries[1].id.hex()})  # holds a purged object
    meta = RemotePack("cd" * 32, 1200, (entries[0], entries[1]._replace(kind=Kind.RUN)))
    assert not _whole(meta, [entries[0]], set())
    huge = RemotePack("ef" * 32, WHOLE_MAX + 1, (_chunk(1, 100, WHOLE_MAX),))
    assert not _whole(huge, list(huge.entries), set())


def test_a_pack_of_thousands_of_entries_is_checked_by_two_processes_every_entry(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    """A whole pack of FORK_MIN entries or more is verified half here, half in a forked
    process: the pull takes it whole when sound, and a byte flipped in either half is
    found, named, and nothing kept."""
    shared = tmp_path / "shared"
    init_store(workspace)
    mlvc("remote", "add", "origin", str(shared), "--default")
    (workspace / "d").mkdir()
    for n in range(FORK_MIN + 500):
        (workspace / "d" / f"f{n:05d}").write_bytes(os.urandom(1024))  # mostly data: whole
    mlvc("add", "d")
    mlvc("push")
    data_pack = max(shared.glob("packs/*.pack"), key=lambda p: p.stat().st_size)
    from mlvc.store.pack import read_table

    table = read_table(data_pack)  # in the order of the pack's table, which is split in two
    assert len(table) >= FORK_MIN

    sound = tmp_path / "sound"
    sound.mkdir()
    mlvc("clone", str(shared), cwd=sound)
    mlvc("pull", cwd=sound)
    assert (sound / ".mlvc" / "packs" / data_pack.name).read_bytes() == data_pack.read_bytes()

    original = data_pack.read_bytes()
    for victim in (table[10], table[-10]):  # one in each half of the table
        damaged = bytearray(original)
        damaged[victim.offset + victim.stored_len // 2] ^= 0x20
        os.chmod(data_pack, 0o644)
        data_pack.write_bytes(bytes(damaged))
        failed = _pull_refused(mlvc, shared, tmp_path / f"c{victim.offset}")
        assert f"corrupt object {victim.id.hex()}" in failed
