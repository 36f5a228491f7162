"""The forms of `add` and `checkout` answered without typer must mean what typer's
parser makes of them; anything else must still reach typer (its usage errors, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

from mlvc.cli import fast
from tests.conftest import Run


def test_add_and_checkout_forms_are_parsed_like_typer() -> None:
    assert fast._parse_add(["-m", "why", "--json", "a", "b"]) == (["a", "b"], "why", True)
    assert fast._parse_add(["--message", "m", "a"]) == (["a"], "m", False)
    assert fast._parse_add([]) is None
    assert fast._parse_add(["--bogus", "a"]) is None
    assert fast._parse_checkout(["--dry-run", "REF", "--json", "--", "p", "--q"]) == (
        "REF",
        ["p", "--q"],
        {"--dry-run", "--json"},
    )
    assert fast._parse_checkout(["REF"]) == ("REF", [], set())
    assert fast._parse_checkout(["A", "B"]) is None  # paths without '--': typer decides
    assert fast._parse_checkout(["--help"]) is None
    assert fast._parse_checkout([]) is None


def test_fast_add_and_checkout_end_to_end(mlvc: Run, workspace: Path) -> None:
    mlvc("init")
    (workspace / "a.txt").write_text("first\n")
    (workspace / "b.txt").write_text("other\n")
    added = json.loads(mlvc("add", "-m", "why not", "a.txt", "b.txt", "--json").stdout)
    assert [p["path"] for p in added["paths"]] == ["a.txt", "b.txt"]
    shown = json.loads(mlvc("show", added["run_id"], "--json").stdout)
    assert shown["message"] == "why not"
    (workspace / "a.txt").write_text("second\n")
    (workspace / "b.txt").unlink()
    mlvc("add", "a.txt", "b.txt")
    dry = json.loads(mlvc("checkout", added["run_id"], "--dry-run", "--json", "--", "a.txt").stdout)
    assert [c["path"] for c in dry["changes"]] == ["a.txt"]
    assert (workspace / "a.txt").read_text() == "second\n"
    mlvc("checkout", added["run_id"])
    assert (workspace / "a.txt").read_text() == "first\n"
    assert (workspace / "b.txt").read_text() == "other\n"


def test_other_forms_still_reach_typer(mlvc: Run) -> None:
    mlvc("init")
    for args in (["add"], ["add", "--bogus", "x"], ["checkout"], ["checkout", "--bogus", "R"]):
        result = mlvc(*args, check=False)
        assert result.returncode == 2, args
        assert "Usage: mlvc" in result.stderr
