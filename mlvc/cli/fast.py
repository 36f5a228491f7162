"""Hot commands answered without importing typer (~0.1 s): `status`, `run`, `add`,
`checkout`, and the plain forms of `log PATH`, `diff A B` and `blame TARGET` (with or
without `--json`).

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


_PLAIN = {"log": 1, "diff": 2, "blame": 1}


def _plain(args: list[str]) -> list[str] | None:
    """The positional arguments of `log PATH`, `diff A B`, `blame T` (+ `--json`)."""
    if not args or args[0] not in _PLAIN:
        return None
    rest = [a for a in args[1:] if a != "--json"]
    if len(rest) != _PLAIN[args[0]] or any(a.startswith("-") for a in rest):
        return None
    return rest


_CHECKOUT_FLAGS = {
    "--inputs",
    "--code",
    "--force",
    "--clean",
    "--dry-run",
    "--json",
    "--follow-symlinks",
}


def _parse_add(args: list[str]) -> tuple[list[str], str, bool] | None:
    """`add [-m MSG] [--json] PATH...` (paths, message, json), or None."""
    paths: list[str] = []
    message, json = "", False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--json":
            json = True
        elif arg in ("-m", "--message") and i + 1 < len(args):
            message = args[i + 1]
            i += 1
        elif arg.startswith("-"):
            return None
        else:
            paths.append(arg)
        i += 1
    return (paths, message, json) if paths else None


def _parse_checkout(args: list[str]) -> tuple[str, list[str], set[str]] | None:
    """`checkout [FLAGS] REF [FLAGS] [-- PATH...]` (ref, paths, flags), or None."""
    refs: list[str] = []
    flags: set[str] = set()
    paths: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            paths = args[i + 1 :]
            break
        if arg in _CHECKOUT_FLAGS:
            flags.add(arg)
        elif arg.startswith("-"):
            return None
        else:
            refs.append(arg)
    return (refs[0], paths, flags) if len(refs) == 1 else None


def handles(args: list[str]) -> bool:
    if args in (["status"], ["status", "--json"]):
        return True
    if args and args[0] == "add":
        return _parse_add(args[1:]) is not None
    if args and args[0] == "checkout":
        return _parse_checkout(args[1:]) is not None
    if _plain(args) is not None:
        return True
    return bool(args) and args[0] == "run" and _parse_run(args[1:]) is not None


def run(args: list[str]) -> int:
    if args[0] == "status":
        from mlvc.cli.status import show_status

        show_status(json="--json" in args)
        return 0
    if args[0] == "add":
        added = _parse_add(args[1:])
        assert added is not None
        from mlvc.cli.add import add_command

        add_command([Path(p) for p in added[0]], added[1], added[2])
        return 0
    if args[0] == "checkout":
        parsed_checkout = _parse_checkout(args[1:])
        assert parsed_checkout is not None
        from mlvc.cli.checkout import checkout_command

        ref, paths, flags = parsed_checkout
        checkout_command(
            ref,
            paths,
            inputs="--inputs" in flags,
            code="--code" in flags,
            force="--force" in flags,
            clean="--clean" in flags,
            dry_run="--dry-run" in flags,
            json="--json" in flags,
            follow_symlinks="--follow-symlinks" in flags,
        )
        return 0
    plain = _plain(args)
    json = "--json" in args
    if plain is not None and args[0] == "log":
        from mlvc.cli.log import log_command

        log_command(plain[0], None, False, None, None, False, False, json)
        return 0
    if plain is not None and args[0] == "diff":
        from mlvc.cli.diff import diff_command

        return diff_command(plain[0], plain[1], False, False, False, json)
    if plain is not None and args[0] == "blame":
        from mlvc.cli.blame import blame_command

        blame_command(plain[0], None, False, False, json)
        return 0
    parsed = _parse_run(args[1:])
    assert parsed is not None
    from mlvc.cli.run import run_command

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
