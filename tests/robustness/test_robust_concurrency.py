"""Commands at once: concurrent `mlvc add` processes in one workspace all succeed."""

from __future__ import annotations

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
