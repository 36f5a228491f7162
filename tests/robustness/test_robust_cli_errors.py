"""User mistakes and broken repositories: a clear `error:` line, a `hint:`, exit 1."""

from __future__ import annotations

import itertools
from pathlib import Path

import blake3
import pytest

from mlvc.porcelain.add import add as lib_add
from mlvc.repo import Repo

OWNER = {"user": "robustness"}


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("add", "data.csv"),
        ("run", "--", "touch", "ran"),
        ("show", "abcd"),
        ("cat-object", "abcd"),
        ("ls-tree", "abcd"),
    ],
    ids=lambda a: a[0],
)
def test_outside_a_repository(cli, tmp_path: Path, args: tuple[str, ...]) -> None:
    elsewhere = tmp_path / "not-a-repo"
    elsewhere.mkdir()
    (elsewhere / "data.csv").write_text("a\n")
    result = cli(*args, cwd=elsewhere).clean_error()
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: not an mlvc repository"), result.describe()
    assert any(line.startswith("hint: ") for line in lines[1:]), result.describe()
    assert result.stdout == b""
    assert not (elsewhere / ".mlvc").exists()
    assert not (elsewhere / "ran").exists(), "`run` executed a command it cannot record"


def test_garbage_index_database(repo: Repo, workspace: Path, cli) -> None:
    repo.close()
    index = repo.dir / "index.db"
    for extra in ("-wal", "-shm"):
        Path(f"{index}{extra}").unlink(missing_ok=True)
    index.write_bytes(b"this is not a SQLite database" * 100)
    result = cli("status").clean_error("index")
    assert "hint:" in result.stderr


def test_garbage_config(repo: Repo, workspace: Path, cli) -> None:
    (repo.dir / "config.toml").write_text("[core\nformat = ")
    cli("status").clean_error("config")


def _colliding_contents() -> tuple[bytes, bytes]:
    """Two small contents whose ids share their first four hex digits (birthday search,
    a few hundred hashes: deterministic, and no need to store hundreds of files)."""
    seen: dict[bytes, bytes] = {}
    for i in itertools.count():
        content = f"collision candidate {i}\n".encode()
        key = blake3.blake3(content).digest()[:2]
        if key in seen:
            return seen[key], content
        seen[key] = content
    raise AssertionError("unreachable")


def test_bad_unknown_and_ambiguous_ids(repo: Repo, workspace: Path, cli) -> None:
    first, second = _colliding_contents()
    (workspace / "one.txt").write_bytes(first)
    (workspace / "two.txt").write_bytes(second)
    ids = [
        p.id.hex()
        for p in lib_add(repo, [Path("one.txt"), Path("two.txt")], workspace, OWNER).paths
    ]
    prefix = ids[0][:4]
    assert ids[1].startswith(prefix)

    # not hex; too short (with a hint)
    cli("cat-object", "zz").clean_error("zz")
    short = cli("cat-object", "12").clean_error("12")
    assert "hint:" in short.stderr

    # unknown
    taken = {i[:4] for i in ids}
    unknown = next(f"{n:04x}" for n in range(1 << 16) if f"{n:04x}" not in taken)
    assert not repo.index.with_prefix(
        bytes.fromhex(unknown) + bytes(30), bytes.fromhex(unknown) + b"\xff" * 30, 1
    )
    cli("cat-object", unknown).clean_error("not found")

    # ambiguous: every candidate is listed, and a longer prefix resolves
    ambiguous = cli("cat-object", prefix).clean_error("ambiguous", ids[0], ids[1])
    assert ambiguous.stdout == b""
    assert "hint:" in ambiguous.stderr
    distinct = next(n for n in range(5, 65) if ids[0][:n] != ids[1][:n])
    assert cli("cat-object", ids[1][:distinct].upper()).ok().stdout == second
