"""A store an older mlvc wrote (repository format 1, version-1 packs) is read as it is,
and raised to format 2 just before its first version-2 pack: an mlvc that reads only
version-1 packs then refuses the store, saying to upgrade, instead of taking the new
packs for damaged ones."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mlvc import config
from mlvc.store.pack import FOOTER
from tests.conftest import Run
from tests.packv1 import as_version_1

MiB = 1 << 20


def _pack_versions(workspace: Path) -> list[int]:
    versions = []
    for pack in sorted((workspace / ".mlvc" / "packs").glob("*.pack")):
        with pack.open("rb") as handle:
            versions.append(int.from_bytes(handle.read(12)[8:], "little"))
    return versions


def _as_format_1(mlvc: Run, workspace: Path) -> Path:
    """The store in `workspace` made as an older mlvc left it: version-1 packs, format 1
    (with a comment of the user's, which must survive)."""
    for pack in (workspace / ".mlvc" / "packs").glob("*.pack"):
        as_version_1(pack)
    mlvc("index", "rebuild")
    path = workspace / ".mlvc" / "config.toml"
    text = path.read_text().replace("format = 2", "format = 1")
    path.write_text("# kept by hand\n" + text)
    return path


def test_a_format_1_store_is_read_as_it_is_and_raised_by_its_first_new_pack(
    mlvc: Run, workspace: Path
) -> None:
    mlvc("init")
    big = os.urandom(3 * MiB)
    (workspace / "big.bin").write_bytes(big)
    first = json.loads(mlvc("add", "big.bin", "--json").stdout)["run_id"]
    cfg = _as_format_1(mlvc, workspace)
    before = cfg.read_text()
    assert set(_pack_versions(workspace)) == {1}

    (workspace / "big.bin").unlink()
    mlvc("checkout", "latest")  # reading, and writing the workspace: no pack written
    mlvc("status")
    mlvc("log")
    assert (workspace / "big.bin").read_bytes() == big
    assert cfg.read_text() == before

    (workspace / "new.txt").write_text("new\n")
    mlvc("add", "new.txt")
    after = cfg.read_text()
    assert after == before.replace("format = 1", "format = 2")
    assert "# kept by hand" in after
    assert config.load(cfg).format == 2
    assert sorted(set(_pack_versions(workspace))) == [1, 2]
    assert mlvc("fsck", "--full").returncode == 0
    (workspace / "big.bin").unlink()
    mlvc("checkout", first)  # from its version-1 packs, beside version-2 ones
    assert (workspace / "big.bin").read_bytes() == big


def test_a_format_1_config_laid_out_otherwise_is_raised_from_its_values(
    mlvc: Run, workspace: Path
) -> None:
    mlvc("init")
    (workspace / "a.txt").write_text("a\n")
    mlvc("add", "a.txt")
    cfg = _as_format_1(mlvc, workspace)
    cfg.write_text(cfg.read_text().replace("format = 1", "format=1"))
    chunking = config.load(cfg).chunking
    (workspace / "b.txt").write_text("b\n")
    mlvc("add", "b.txt")
    raised = config.load(cfg)
    assert (raised.format, raised.chunking) == (2, chunking)


def test_a_store_of_a_later_format_is_refused_with_a_hint_to_upgrade(
    mlvc: Run, workspace: Path
) -> None:
    mlvc("init")
    cfg = workspace / ".mlvc" / "config.toml"
    cfg.write_text(cfg.read_text().replace("format = 2", "format = 3"))
    refused = mlvc("status", check=False)
    assert refused.returncode == 1
    assert "repository format 3" in refused.stderr
    assert "upgrade mlvc" in refused.stderr
    assert "Traceback" not in refused.stderr


def _as_version_3(pack: Path) -> None:
    """A later mlvc's pack, as far as this one can tell: header and footer say 3."""
    data = bytearray(pack.read_bytes())
    data[8:12] = (3).to_bytes(4, "little")
    data[-FOOTER.size + 4 : -FOOTER.size + 8] = (3).to_bytes(4, "little")
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(data))
    os.chmod(pack, 0o444)


def test_a_pack_of_a_later_version_is_neither_quarantined_nor_skipped(
    mlvc: Run, workspace: Path
) -> None:
    """Not damage: `fsck --repair` and `index rebuild` stop and say to upgrade, and the
    pack stays where it is, as it was."""
    mlvc("init")
    (workspace / "a.bin").write_bytes(os.urandom(MiB))
    mlvc("add", "a.bin")
    (pack,) = sorted(
        (workspace / ".mlvc" / "packs").glob("*.pack"), key=lambda p: p.stat().st_size
    )[-1:]
    _as_version_3(pack)
    before = pack.read_bytes()
    for command in (["fsck", "--repair"], ["index", "rebuild"], ["fsck"]):
        refused = mlvc(*command, check=False)
        assert refused.returncode == 1, command
        assert f"pack {pack.name} is pack version 3" in refused.stderr
        assert "upgrade mlvc" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert pack.read_bytes() == before
    quarantine = workspace / ".mlvc" / "quarantine"
    assert not quarantine.exists() or not any(quarantine.iterdir())


def test_a_remote_pack_of_a_later_version_is_refused_with_a_hint_to_upgrade(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    mlvc("init")
    shared = tmp_path / "shared"
    mlvc("remote", "add", "origin", str(shared), "--default")
    (workspace / "a.bin").write_bytes(os.urandom(MiB))
    mlvc("add", "a.bin")
    mlvc("push")
    early = tmp_path / "early"  # cloned before: holds the index files as they were
    early.mkdir()
    mlvc("clone", str(shared), cwd=early)
    for pack in shared.glob("packs/*.pack"):
        _as_version_3(pack)
        index_file = pack.with_suffix(".idx")
        os.chmod(index_file, 0o644)
        index_file.write_bytes(pack.read_bytes()[-len(index_file.read_bytes()) :])
    clone = tmp_path / "b"
    clone.mkdir()
    refused = mlvc("clone", str(shared), cwd=clone, check=False)  # reads index files
    pulled = mlvc("pull", cwd=early, check=False)  # reads a pack whole
    for failed in (refused, pulled):
        assert failed.returncode == 1
        assert "is pack version 3" in failed.stderr
        assert "upgrade mlvc" in failed.stderr
        assert "Traceback" not in failed.stderr
    assert set(_pack_versions(early)) <= {2}  # nothing of version 3 was kept


def test_a_config_this_mlvc_writes_again_says_format_2(mlvc: Run, workspace: Path) -> None:
    """`remote add` writes the config again from its values: never format 1, or a
    raise by another command at the same time could be undone."""
    mlvc("init")
    (workspace / "a.txt").write_text("a\n")
    mlvc("add", "a.txt")
    cfg = _as_format_1(mlvc, workspace)
    mlvc("remote", "add", "origin", str(workspace.parent / "shared"))
    assert config.load(cfg).format == 2
    assert [r.name for r in config.load(cfg).remotes] == ["origin"]
