"""The forms answered without typer must mean what typer's parser makes of them;
anything else must still reach typer (its usage errors, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlvc.cli import fast
from tests.conftest import Run, init_store

# Every form the fast path takes, and some it must leave to typer.
TAKEN = [
    ["status"],
    ["status", "--json"],
    ["add", "-m", "why", "--json", "a", "b"],
    ["add", "--message", "m", "a"],
    ["checkout", "--dry-run", "REF", "--json", "--", "p", "--q"],
    ["checkout", "REF"],
    ["checkout", "REF", "--inputs", "--code", "--force", "--clean", "--follow-symlinks"],
    ["run", "--", "python", "train.py", "--lr", "0.1"],
    ["run", "-i", "a", "--input", "b", "-o", "c", "-p", "p.yaml", "-m", "m.json", "--", "x"],
    ["run", "--message", "why", "-t", "one", "--tag", "two", "--json", "--", "sh", "-c", "x"],
    ["run", "--trace", "strict", "--", "sort", "in.csv"],
    ["run", "--trace=strict", "--message=", "--tag=a=b", "--", "sort", "--key=2"],
    ["log"],
    ["log", "model.pt", "--json"],
    ["log", "--oneline", "--all", "--since", "2026-01-01", "--owner", "me", "-n", "5"],
    ["log", "a", "b"],  # typer's too: log_command refuses it without --table
    ["log", "--table", "a", "b", "--where", "metrics.acc > 0.9", "--where", "status == ok"],
    ["log", "--table", "--command", "train.py", "--sort", "duration", "--reverse", "--csv"],
    ["runs"],
    ["runs", "model.pt", "prod", "-n", "3", "--limit", "4", "--json", "--all"],
    ["runs", "--where", "params.train.n_est >= 80", "--sort", "metrics.acc", "--csv"],
    ["runs", "--command", "train.py", "--reverse", "--since", "2026-01-01", "--owner", "me"],
    ["diff", "A", "B"],
    ["diff", "--json", "A", "B"],
    ["diff", "A"],
    ["blame", "metrics.json"],
    ["blame", "metrics.json", "--json"],
    ["blame", "--depth", "3", "--lines", "metrics.json"],
    ["blame", "params.yaml", "--keys", "--depth=0"],
    ["diff", "A", "B", "--all", "--content", "--exit-code"],
    ["rm", "a", "b/c"],
    ["rm", "--cached", "-f", "a", "--json"],
    ["rm", "--force", "a"],
    ["rerun"],
    ["rerun", "metrics.json", "--dry-run", "--force", "--json"],
    ["rerun", "--all"],
    ["reproduce", "latest"],
    ["reproduce", "--in-place", "--keep", "--json", "3f2a"],
    ["push"],
    ["push", "prod", "model.pt", "-r", "origin", "-j", "16", "--json"],
    ["push", "--remote", "o", "--jobs", "1"],
    ["push", "--jobs=4"],
    ["fetch"],
    ["fetch", "-r", "origin", "--json"],
    ["pull"],
    ["pull", "prod", "data/", "--remote", "o", "--json"],
    ["clone", "s3://team/mlvc"],
    ["clone", "s3://team/mlvc", "proj", "-o", "endpoint_url=http://x", "--option", "a=b"],
    ["clone", "--json", "/mnt/shared"],
    ["remote", "add", "origin", "s3://b/p"],
    ["remote", "add", "o", "/srv/r", "--default", "-o", "profile=p", "--json"],
    ["remote", "list"],
    ["remote", "list", "--json"],
    ["remote", "remove", "origin"],
    ["remote", "remove", "--json", "o"],
    ["fsck"],
    ["fsck", "--full", "--repair", "--json"],
    ["gc"],
    ["gc", "--apply", "--grace", "0", "--json"],
    ["gc", "--grace=30m"],
    ["forget", "3f2a", "9b1c"],
    ["forget", "--force", "--json", "3f2a"],
    ["index", "rebuild"],
    ["index", "rebuild", "--json"],
    ["init"],
    ["init", "sub/dir", "--json"],
    ["show", "latest"],
    ["show", "--json", "3f2a"],
    ["show"],
    ["show", "--json"],
    ["graph"],
    ["graph", "model.pt", "--format", "mermaid"],
    ["graph", "--steps"],
    ["graph", "--steps", "--json"],
    ["tag"],
    ["tag", "--json"],
    ["tag", "prod"],
    ["tag", "prod", "latest~1", "-m", "why", "--json"],
    ["tag", "-d", "prod"],
    ["tag", "--history", "prod", "--json"],
    ["cat-object", "3f2a9c1e"],
    ["cat-object", "--json", "3f2a9c1e"],
    ["ls-tree", "-r", "9b1c"],
    ["ls-tree", "9b1c", "--recursive", "--json"],
    ["hash-object", "a.bin", "b.bin"],
    ["hash-object", "--json", "a.bin"],
]
LEFT = [
    [],
    ["add"],
    ["add", "--bogus", "a"],
    ["checkout"],
    ["checkout", "A", "B"],
    ["checkout", "--help"],
    ["run", "python", "x.py"],
    ["run", "--"],
    ["log", "-n", "many"],
    ["log", "--max-count"],
    ["runs", "--bogus"],
    ["runs", "--where"],
    ["runs", "-n", "-1"],
    ["diff", "A", "B", "C"],
    ["show", "latest", "extra"],
    ["tag", "a", "b", "c"],
    ["hash-object"],
    ["cat-object"],
    ["graph", "--format"],
    ["init", "--bogus"],
    ["log", "-n", "\u00b2"],  # a digit to str.isdigit, not to int(): typer's usage error
    ["blame", "x", "--depth", "many"],
    ["rm"],
    ["reproduce"],
    ["reproduce", "a", "b"],
    ["push", "--all"],  # exclusive with targets: typer's command checks it
    ["push", "-j", "0"],  # typer's min=1
    ["push", "--jobs"],
    ["clone"],
    ["clone", "a", "b", "c"],
    ["remote"],
    ["remote", "bogus"],
    ["remote", "add", "origin"],
    ["remote", "list", "extra"],
    ["index"],
    ["gc", "--grace"],
    ["forget"],
    ["purge", "x@y"],
    ["ui"],
]


def _plain(value: object) -> object:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def _typer_kwargs(args: list[str]) -> dict[str, object]:
    from mlvc.cli.app import command

    found = command().commands[args[0]]
    words = 1
    if args[0] in fast.GROUPS:  # `remote add`: the sub-command of a group
        found, words = found.commands[args[1]], 2
    context = found.make_context(" ".join(args[:words]), list(args[words:]))
    kwargs = {
        k: [] if v is None and k in ("paths", "targets", "where") else _plain(v)
        for k, v in context.params.items()
    }
    if args[0] == "push":  # `--all`, typer's alone (see LEFT), is not passed on
        assert kwargs.pop("everything") is False
    return kwargs


@pytest.mark.parametrize("args", TAKEN, ids=" ".join)
def test_the_fast_path_means_what_typer_means(args: list[str]) -> None:
    """The drift check: the same keyword arguments, whichever parser read the line."""
    parsed = fast.parse(args)
    assert parsed is not None, "the fast path should take this form"
    _, kwargs = parsed
    assert {k: _plain(v) for k, v in kwargs.items()} == _typer_kwargs(args)


@pytest.mark.parametrize("args", LEFT, ids=lambda a: " ".join(a) or "(nothing)")
def test_other_forms_are_left_to_typer(args: list[str]) -> None:
    assert fast.parse(args) is None


def test_fast_add_and_checkout_end_to_end(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
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


def test_other_forms_still_reach_typer(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    for args in (["add"], ["add", "--bogus", "x"], ["checkout"], ["checkout", "--bogus", "R"]):
        result = mlvc(*args, check=False)
        assert result.returncode == 2, args
        assert "Usage: mlvc" in result.stderr
