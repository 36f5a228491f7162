"""Hot commands answered without importing typer (~0.1 s): `status` and `run`.

Only forms this module fully understands take this path; anything else (`--help`, an
unknown option, a typo) goes through the typer application, which owns the parsing and
its error messages. The options here mirror those of `mlvc.cli.app`.
"""

from __future__ import annotations

from pathlib import Path

_RUN_VALUES = {
    "-i": "inputs",
    "--input": "inputs",
    "-o": "outputs",
    "--output": "outputs",
    "-p": "params",
    "--params": "params",
    "-m": "metrics",
    "--metrics": "metrics",
    "-t": "tags",
    "--tag": "tags",
    "--message": "message",
}


def handles(args: list[str]) -> bool:
    if args in (["status"], ["status", "--json"]):
        return True
    return bool(args) and args[0] == "run" and _parse_run(args[1:]) is not None


def run(args: list[str]) -> int:
    if args[0] == "status":
        from mlvc.cli.views import show_status

        show_status(json="--json" in args)
        return 0
    parsed = _parse_run(args[1:])
    assert parsed is not None
    from mlvc.cli.views import run_command

    lists, message, json, command = parsed
    return run_command(
        command,
        [Path(p) for p in lists["inputs"]],
        [Path(p) for p in lists["outputs"]],
        [Path(p) for p in lists["params"]],
        [Path(p) for p in lists["metrics"]],
        message,
        lists["tags"],
        json,
    )


def _parse_run(args: list[str]) -> tuple[dict[str, list[str]], str, bool, list[str]] | None:
    """`[OPTIONS] -- CMD...`, or None when the arguments need typer's full parser."""
    lists: dict[str, list[str]] = {
        "inputs": [],
        "outputs": [],
        "params": [],
        "metrics": [],
        "tags": [],
    }
    message, json = "", False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            command = args[i + 1 :]
            return (lists, message, json, command) if command else None
        if arg == "--json":
            json = True
            i += 1
            continue
        name = _RUN_VALUES.get(arg)
        if name is None or i + 1 >= len(args):
            return None
        if name == "message":
            message = args[i + 1]
        else:
            lists[name].append(args[i + 1])
        i += 2
    return None
