"""Commands answered without importing typer (~0.05 s of every start-up): every command
and sub-command in its documented forms, but `ui`, `purge` and `push --all` (the table:
`cli/specs.py`).

A form the table does not cover (`--help`, an unknown option, a typo, a value typer would
refuse) goes through typer, which owns the parsing and its errors.
"""

# No `from __future__ import annotations` here: see cli/specs.py.

from pathlib import Path
from typing import Any

from mlvc.cli.specs import GROUPS, SPECS, Spec


def parse(args: list[str]) -> tuple[Spec, dict[str, Any]] | None:
    """The command's spec and the function's keyword arguments, or None for typer."""
    words = 2 if args and args[0] in GROUPS else 1
    spec = SPECS.get(" ".join(args[:words])) if len(args) >= words else None
    if spec is None:
        return None
    found: dict[str, Any] = {name: [] for name in spec.lists}
    positionals: list[str] = []
    rest = args[words:]
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
            if name in spec.ints and not _whole_number(value, spec.minimum.get(name, 0)):
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
        if isinstance(value, list):
            kwargs[name] = [Path(p) for p in value]
        elif value is not None:
            kwargs[name] = Path(value)
    return spec, kwargs


def _whole_number(value: str, minimum: int) -> bool:
    """Digits alone (ASCII: `int` refuses '²', which `isdigit` takes), at least `minimum`."""
    return value.isascii() and value.isdigit() and int(value) >= minimum


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
