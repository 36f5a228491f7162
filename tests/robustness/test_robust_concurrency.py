"""Commands at once: concurrent `mlvc add` processes in one workspace all succeed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import blake3
import pytest

MIB = 1 << 20


def _run_together(cli, targets: list[str]) -> None:
    procs = [cli.popen("add", target) for target in targets]
    failures = []
    for target, proc in zip(targets, procs, strict=True):
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failures.append(f"mlvc add {target} exited {proc.returncode}: {err.decode()}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param(["a", "b"], id="two-different-files"),
        pytest.param(["a", "a"], id="same-file-twice"),
        pytest.param(["a", "b", "c", "a"], id="four-adds-overlapping"),
    ],
)
def test_concurrent_adds_all_succeed_and_round_trip(
    repo, workspace: Path, cli, store_tools, layout: list[str]
) -> None:
    names = sorted(set(layout))
    size = 12 * MIB if len(layout) == 2 else 2 * MIB
    contents = {name: os.urandom(size) for name in names}
    for name, data in contents.items():
        (workspace / name).write_bytes(data)

    _run_together(cli, layout)

    store_tools.assert_store_consistent(repo.dir)
    assert not list((repo.dir / "packs").glob("tmp-*")), "a finished add left a temp pack"
    for name, data in contents.items():  # read back through the library: quicker
        got = b"".join(repo.store.iter_file(blake3.blake3(data).digest()))
        assert got == data, f"{name} does not round-trip"
    status = cli("status").ok().text()
    assert status.startswith(f"clean: {len(names)} tracked"), status


def test_remotes_added_at_once_are_all_kept(repo, workspace: Path, cli) -> None:
    """Each `remote add` reads, changes and writes the config: under its lock, six at
    once keep every remote (without it, a write from an older read drops the others),
    and a format-1 store raised meanwhile keeps them too."""
    config_file = workspace / ".mlvc" / "config.toml"
    config_file.write_text(config_file.read_text().replace("format = 2", "format = 1"))
    names = [f"r{n}" for n in range(6)]
    procs = [cli.popen("remote", "add", name, str(workspace.parent / name)) for name in names]
    (workspace / "a.txt").write_text("a\n")
    procs.append(cli.popen("add", "a.txt"))  # raises the store to format 2 meanwhile
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    listed = cli("remote", "list", "--json").ok().text()
    assert sorted(r["name"] for r in json.loads(listed)["remotes"]) == names
    assert "format = 2" in config_file.read_text()
