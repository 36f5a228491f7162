"""A damaged index, tag or config: every read command ends in a clear error naming it
(exit 1, with a hint saying what to do next) or works around it, never in exit 3.

The store is the example pipeline (five real runs, the train run tagged `prod`), built
once per module and copied into each test's workspace; the damage is done by hand, every
command under test is the real `mlvc` console script.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Pipeline, Template, build_pipeline

INDEX_HINT = "hint: run mlvc index rebuild"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, ran_template: Template) -> Pipeline:
    return build_pipeline(tmp_path_factory, ran_template)


@pytest.fixture
def runs(template: Pipeline, workspace: Path) -> dict[str, str]:
    """The pipeline copied into this test's workspace; its run ids by stage."""
    shutil.rmtree(workspace)
    shutil.copytree(template.workspace, workspace, symlinks=True)
    return dict(template.runs)


def read_commands(runs: dict[str, str]) -> list[tuple[str, ...]]:
    """Every read command of the issue, with arguments that work on the intact store."""
    return [
        ("status",),
        ("log",),
        ("show", "prod"),
        ("diff", runs["prepare"], "prod"),
        ("blame", "metrics.json"),
        ("graph",),
        ("tag",),
        ("checkout", "prod"),
        ("cat-object", runs["train"][:16]),
    ]


def index_of(workspace: Path) -> Path:
    return workspace / ".mlvc" / "index.db"


def flip_pages(path: Path) -> None:
    """Every page but the first (the header and schema) damaged: its type byte and every
    97th byte inverted. Whichever table a command reads, it meets a damaged page."""
    data = bytearray(path.read_bytes())
    for offset in {*range(4096, len(data), 4096), *range(4096 + 1, len(data), 97)}:
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def cut_in_half(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def overwrite_header(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(b"not a database!!" + data[16:])


def garble_schema(path: Path) -> None:
    """A table's name in the schema turned into bytes that are not UTF-8: SQLite's error
    quotes it, and the sqlite3 module could not decode the message."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA writable_schema=ON")
    db.execute(
        "UPDATE sqlite_master SET name = CAST(X'696ea3' AS TEXT), sql = 'CREATE TABLE'"
        " WHERE name = 'inputs'"
    )
    db.close()


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "flipped-pages": (flip_pages, "is damaged"),
    "truncated": (cut_in_half, "is damaged"),
    "garbage-header": (overwrite_header, "is damaged"),
    "garbled-schema": (garble_schema, "is damaged"),
    "emptied": (lambda path: path.write_bytes(b""), "is empty"),
    "deleted": (Path.unlink, "is missing"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_index_is_named_with_the_rebuild_hint(
    runs: dict[str, str], workspace: Path, cli, damage: str
) -> None:
    before = cli("log", "--json").ok().stdout
    do, problem = DAMAGE[damage]
    do(index_of(workspace))
    for args in read_commands(runs):
        cli(*args).clean_error("error: index ", "/.mlvc/index.db ", problem, INDEX_HINT)
    cli("index", "rebuild").ok()
    assert cli("log", "--json").ok().stdout == before


def test_a_directory_in_place_of_the_index(runs: dict[str, str], workspace: Path, cli) -> None:
    index = index_of(workspace)
    index.unlink()
    index.mkdir()
    for args in read_commands(runs):
        cli(*args).clean_error("/.mlvc/index.db is not a file", "move it aside", INDEX_HINT[6:])
    cli("index", "rebuild").clean_error("is a directory", "hint: move it aside")
    index.rmdir()
    cli("index", "rebuild").ok()
    cli("show", "prod").ok()


def test_random_damage_to_the_index_never_crashes(
    runs: dict[str, str], workspace: Path, cli
) -> None:
    """Seeded damage of every kind to a copy of the index, one read command each: the
    command works (it did not reach the damage) or ends in a clean error. SQLite pages
    carry no checksum, so a damaged row can also read as a missing one (the error then
    says an object or run is missing, with the hint to rebuild where mlvc recorded it)."""
    pristine = index_of(workspace).read_bytes()
    chooser = random.Random(13)
    commands = read_commands(runs)
    for trial in range(12):
        data = bytearray(pristine)
        page = chooser.randrange(1, len(data) // 4096) * 4096
        if trial % 3 == 0:
            for _ in range(chooser.randint(1, 8)):
                data[chooser.randrange(len(data))] ^= 1 << chooser.randrange(8)
        elif trial % 3 == 1:
            data[page : page + 4096] = chooser.randbytes(4096)
        else:
            for _ in range(64):
                data[page + chooser.randrange(4096)] = chooser.randrange(256)
        index_of(workspace).write_bytes(bytes(data))
        (workspace / ".mlvc" / "worktree.msgpack").unlink(missing_ok=True)
        args = commands[trial % len(commands)]
        result = cli(*args)
        if result.returncode != 0:
            result.clean_error()


def test_a_recorded_object_the_index_lost_names_the_rebuild(
    runs: dict[str, str], workspace: Path, cli
) -> None:
    """A row lost from a damaged page reads as a missing object: an id mlvc recorded (a
    tag's run, here) that the index cannot place says how to repair the store."""
    db = sqlite3.connect(index_of(workspace))
    with db:
        db.execute("DELETE FROM objects WHERE id = ?", (bytes.fromhex(runs["train"]),))
    db.close()
    cli("show", "prod").clean_error(f"object {runs['train'][:12]} not found", "index rebuild")
    cli("index", "rebuild").ok()
    cli("show", "prod").ok()


def test_garbage_wal_is_ignored_or_named(runs: dict[str, str], workspace: Path, cli) -> None:
    """SQLite checksums every WAL frame: a garbage `index.db-wal`, or a real one with a
    flipped byte, loses at most the transactions in it, never the index."""
    before = cli("log", "--json").ok().stdout
    wal = workspace / ".mlvc" / "index.db-wal"
    wal.write_bytes(random.Random(1).randbytes(20_000))
    for args in read_commands(runs):
        cli(*args).ok()
    assert cli("log", "--json").ok().stdout == before

    # A real WAL holding one more (committed) transaction, then a byte of it flipped.
    db = sqlite3.connect(index_of(workspace), isolation_level=None)
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("UPDATE meta SET value = value + 1 WHERE key = 'worktree_generation'")
    frames = wal.read_bytes()
    db.close()  # checkpoints the WAL into the file and removes it: put the old one back
    assert len(frames) >= 32 + 24 + 4096  # the header, a frame header, a page
    damaged = bytearray(frames)
    damaged[32 + 24 + 100] ^= 0xFF  # inside the first frame's page
    wal.write_bytes(bytes(damaged))
    for args in read_commands(runs):
        result = cli(*args)
        if result.returncode != 0:
            result.clean_error("index", INDEX_HINT)


@pytest.mark.parametrize(
    "garbage",
    [b"junk\n", b"", b"\xff\xfe\x00 not text", b"ab" * 40, "directory"],
    ids=["junk", "empty", "binary", "too-long-hex", "directory"],
)
def test_a_garbage_tag_is_skipped_by_log_and_listed_as_damaged(
    runs: dict[str, str], workspace: Path, cli, garbage: bytes | str
) -> None:
    bad = workspace / ".mlvc" / "refs" / "tags" / "bad"
    if garbage == "directory":
        bad.mkdir()
    else:
        assert isinstance(garbage, bytes)
        bad.write_bytes(garbage)

    # Commands that show tags beside runs skip it (and still show the good one).
    log = json.loads(cli("log", "--json").ok().stdout)["runs"]
    assert {name for run in log for name in run["tags"]} == {"prod"}
    assert "(prod)" in cli("log", "--oneline").ok().text()
    for args in read_commands(runs):
        cli(*args).ok()
    assert not re.search(r"\bbad\b", cli("graph").ok().text())  # a run id may hold "bad"

    listing = cli("tag").ok().text().splitlines()
    assert listing[0].startswith("bad\tdamaged: ") and "bad" in listing[0][4:]
    assert listing[1] == f"prod\t{runs['train']}"
    listed = json.loads(cli("tag", "--json").ok().stdout)
    assert listed["tags"] == {"prod": runs["train"]} and set(listed["damaged"]) == {"bad"}

    # Naming it is an error that names it and says what to do.
    cli("show", "bad").clean_error("tag bad is damaged", "hint: ", "mlvc tag -d bad")
    cli("tag", "-d", "bad").ok()
    assert not bad.exists()
    assert json.loads(cli("tag", "--json").ok().stdout)["damaged"] == {}
    cli("tag", "bad", runs["prepare"]).ok()
    cli("show", "bad", "--json").ok()


def test_a_tag_naming_a_run_the_index_lacks_is_listed_as_damaged(
    runs: dict[str, str], workspace: Path, cli
) -> None:
    (workspace / ".mlvc" / "refs" / "tags" / "lost").write_text("ab" * 32 + "\n")
    cli("log").ok()
    listed = json.loads(cli("tag", "--json").ok().stdout)
    assert "index does not hold" in listed["damaged"]["lost"]


def _set_avg_size(workspace: Path, size: int) -> None:
    config = workspace / ".mlvc" / "config.toml"
    text = config.read_text()
    assert "avg_size = 65536" in text or size == 65536
    config.write_text(text.replace("avg_size = 65536", f"avg_size = {size}"))


def test_changed_chunking_parameters_are_refused(
    runs: dict[str, str], workspace: Path, cli
) -> None:
    config = workspace / ".mlvc" / "config.toml"
    original = config.read_text()
    _set_avg_size(workspace, 32768)
    for args in (*read_commands(runs), ("add", "params.yaml")):
        cli(*args).clean_error(
            "avg_size = 32768", "avg_size = 65536", "hint: ", ".mlvc/config.toml"
        )
    config.write_text(original)
    for args in read_commands(runs):
        cli(*args).ok()


def test_a_store_made_before_chunking_was_kept_adopts_the_config(
    runs: dict[str, str], workspace: Path, cli
) -> None:
    db = sqlite3.connect(index_of(workspace))
    with db:
        db.execute("DELETE FROM meta WHERE key LIKE 'chunking.%'")
    db.close()
    cli("log").ok()  # accepted, and the config's parameters are recorded
    db = sqlite3.connect(index_of(workspace))
    kept = dict(db.execute("SELECT key, value FROM meta WHERE key LIKE 'chunking.%'"))
    db.close()
    assert kept == {
        "chunking.min_size": 16384,
        "chunking.avg_size": 65536,
        "chunking.max_size": 262144,
        "chunking.seed": 0,
    }
    _set_avg_size(workspace, 32768)
    cli("status").clean_error("avg_size = 32768")
