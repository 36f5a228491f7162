"""Commands answered without importing typer (~0.05 s of every start-up): `status`,
`add`, `run`, `checkout`, `init`, `show`, `tag`, `graph`, `runs`, the plumbing, and the
plain forms of `log [PATH]` (and `log --table`), `diff A B` and `blame TARGET`.

One table says, per command, which arguments and options this path understands and what
each becomes: the keyword arguments of the same CLI function that typer's command calls,
with typer's defaults for the rest. `tests/cli/test_fast_path.py` parses sample command
lines both ways and fails on any difference. A form the table does not cover (`--help`,
an unknown option, a typo) goes through typer, which owns the parsing and its errors.
"""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation, and the first compile() of a process costs ~10 M instructions of start-up
# for every command that imports this module.

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

_NONE: Mapping[str, Any] = MappingProxyType({})


class Spec(NamedTuple):
    target: str  # "module:function" that both this path and typer's command call
    positional: tuple[str, ...] = ()  # filled in order; the last ones may be missing
    required: int = 0  # how many positionals must be there
    variadic: str | None = None  # takes every positional (add's paths), `required` or more
    rest: str | None = None  # takes everything after "--"
    rest_required: bool = False
    flags: Mapping[str, str] = _NONE  # option -> boolean parameter
    values: Mapping[str, str] = _NONE  # option -> parameter taking the next argument
    lists: frozenset[str] = frozenset()  # parameters that collect repeated values
    ints: frozenset[str] = frozenset()  # parameters given to the function as ints
    paths: frozenset[str] = frozenset()  # parameters given to the function as Paths
    defaults: Mapping[str, Any] = _NONE  # every other parameter, as typer has it


_JSON = {"--json": "json"}
# The options of a run table (`runs`, `log --table`) and the run filters they share with log.
_TABLE_FLAGS = {"--reverse": "reverse", "--csv": "csv", "--all": "all_runs"}
_TABLE_VALUES = {
    "--where": "where",
    "--command": "command",
    "--sort": "sort",
    "--since": "since",
    "--owner": "owner",
}
_TABLE_DEFAULTS: dict[str, Any] = {
    "where": [],
    "command": None,
    "sort": None,
    "reverse": False,
    "since": None,
    "owner": None,
    "all_runs": False,
    "json": False,
    "csv": False,
}

SPECS: dict[str, Spec] = {
    "status": Spec("mlvc.cli.status:show_status", flags=_JSON, defaults={"json": False}),
    "add": Spec(
        "mlvc.cli.add:add_command",
        variadic="paths",
        required=1,
        flags=_JSON,
        values={"-m": "message", "--message": "message"},
        paths=frozenset({"paths"}),
        defaults={"message": "", "json": False},
    ),
    "checkout": Spec(
        "mlvc.cli.checkout:checkout_command",
        positional=("ref",),
        required=1,
        rest="paths",
        flags={
            **_JSON,
            "--inputs": "inputs",
            "--code": "code",
            "--force": "force",
            "--clean": "clean",
            "--dry-run": "dry_run",
            "--follow-symlinks": "follow_symlinks",
        },
        defaults={
            "paths": [],
            "inputs": False,
            "code": False,
            "force": False,
            "clean": False,
            "dry_run": False,
            "json": False,
            "follow_symlinks": False,
        },
    ),
    "run": Spec(
        "mlvc.cli.run:run_command",
        rest="command",
        rest_required=True,
        flags=_JSON,
        values={
            "-i": "inputs",
            "--input": "inputs",
            "-o": "outputs",
            "--output": "outputs",
            "-p": "params_files",
            "--params": "params_files",
            "-m": "metrics_files",
            "--metrics": "metrics_files",
            "-t": "tags",
            "--tag": "tags",
            "--message": "message",
            "--trace": "trace",
        },
        lists=frozenset({"inputs", "outputs", "params_files", "metrics_files", "tags"}),
        paths=frozenset({"inputs", "outputs", "params_files", "metrics_files"}),
        defaults={
            "inputs": [],
            "outputs": [],
            "params_files": [],
            "metrics_files": [],
            "message": "",
            "tags": [],
            "json": False,
            "trace": None,
        },
    ),
    "log": Spec(
        "mlvc.cli.log:log_command",
        variadic="paths",
        flags={
            **_JSON,
            **_TABLE_FLAGS,
            "--table": "table",
            "--oneline": "oneline",
            "--consumers": "consumers",
        },
        values={**_TABLE_VALUES, "-n": "number", "--max-count": "number", "--skip": "skip"},
        lists=frozenset({"where"}),
        ints=frozenset({"number", "skip"}),
        defaults={
            **_TABLE_DEFAULTS,
            "paths": [],
            "number": None,
            "oneline": False,
            "consumers": False,
            "table": False,
            "skip": 0,
        },
    ),
    "runs": Spec(
        "mlvc.cli.runs:runs_command",
        variadic="targets",
        flags={**_JSON, **_TABLE_FLAGS},
        values={**_TABLE_VALUES, "-n": "limit", "--limit": "limit"},
        lists=frozenset({"where"}),
        ints=frozenset({"limit"}),
        defaults={**_TABLE_DEFAULTS, "targets": [], "limit": None},
    ),
    "diff": Spec(
        "mlvc.cli.diff:diff_command",
        positional=("a", "b"),
        required=1,
        flags=_JSON,
        defaults={
            "b": None,
            "all_params": False,
            "content": False,
            "exit_code": False,
            "json": False,
        },
    ),
    "init": Spec(
        "mlvc.cli.init:init_command",
        positional=("path",),
        flags=_JSON,
        paths=frozenset({"path"}),
        defaults={"path": ".", "json": False},
    ),
    "show": Spec(
        "mlvc.cli.show:show_run",
        positional=("ref",),
        flags=_JSON,
        defaults={"ref": None, "json": False},
    ),
    "graph": Spec(
        "mlvc.cli.blame:graph_command",
        positional=("target",),
        flags={**_JSON, "--steps": "steps"},
        values={"--format": "fmt"},
        defaults={"target": None, "fmt": "tree", "steps": False, "json": False},
    ),
    "tag": Spec(
        "mlvc.cli.tag:tag_command",
        positional=("name", "run_ref"),
        flags={**_JSON, "-d": "delete", "--delete": "delete", "--history": "history"},
        values={"-m": "message", "--message": "message"},
        defaults={
            "name": None,
            "run_ref": None,
            "delete": False,
            "history": False,
            "message": "",
            "json": False,
        },
    ),
    "cat-object": Spec(
        "mlvc.cli.plumbing:cat_object_command",
        positional=("ref",),
        required=1,
        flags=_JSON,
        defaults={"json": False},
    ),
    "ls-tree": Spec(
        "mlvc.cli.plumbing:ls_tree_command",
        positional=("ref",),
        required=1,
        flags={**_JSON, "-r": "recursive", "--recursive": "recursive"},
        defaults={"recursive": False, "json": False},
    ),
    "hash-object": Spec(
        "mlvc.cli.plumbing:hash_object_command",
        variadic="paths",
        required=1,
        flags=_JSON,
        paths=frozenset({"paths"}),
        defaults={"json": False},
    ),
    "blame": Spec(
        "mlvc.cli.blame:blame_command",
        positional=("target",),
        required=1,
        flags=_JSON,
        defaults={"depth": None, "lines": False, "keys": False, "json": False},
    ),
}


def parse(args: list[str]) -> tuple[Spec, dict[str, Any]] | None:
    """The command's spec and the function's keyword arguments, or None for typer."""
    spec = SPECS.get(args[0]) if args else None
    if spec is None:
        return None
    found: dict[str, Any] = {name: [] for name in spec.lists}
    positionals: list[str] = []
    rest = args[1:]
    while rest:
        arg, rest = rest[0], rest[1:]
        if arg == "--" and spec.rest is not None:
            found[spec.rest] = rest
            rest = []
        elif arg in spec.flags:
            found[spec.flags[arg]] = True
        elif arg.startswith("--") and "=" in arg and arg.partition("=")[0] in spec.values:
            name, _, value = arg.partition("=")  # `--trace=strict`, as click reads it
            rest = [name, value, *rest]
        elif arg in spec.values and rest:
            name, value, rest = spec.values[arg], rest[0], rest[1:]
            if name in spec.ints and not value.isdigit():
                return None  # typer's usage error
            if name in spec.lists:
                found[name].append(value)
            else:
                found[name] = int(value) if name in spec.ints else value
        elif arg.startswith("-"):
            return None
        else:
            positionals.append(arg)
    if not _place(spec, positionals, found):
        return None
    kwargs = {**spec.defaults, **found}
    for name in spec.paths:
        value = kwargs[name]
        kwargs[name] = [Path(p) for p in value] if isinstance(value, list) else Path(value)
    return spec, kwargs


def _place(spec: Spec, positionals: list[str], found: dict[str, Any]) -> bool:
    if spec.rest_required and not found.get(spec.rest or ""):
        return False
    if spec.variadic is not None:
        found[spec.variadic] = positionals
        return len(positionals) >= spec.required
    if not spec.required <= len(positionals) <= len(spec.positional):
        return False
    found.update(zip(spec.positional, positionals, strict=False))
    return True


def handles(args: list[str]) -> bool:
    return parse(args) is not None


def run(args: list[str]) -> int:
    parsed = parse(args)
    assert parsed is not None
    spec, kwargs = parsed
    module, _, function = spec.target.partition(":")
    import importlib

    code = getattr(importlib.import_module(module), function)(**kwargs)
    return int(code or 0)
