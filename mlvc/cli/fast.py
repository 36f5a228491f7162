"""The hottest read command, `status`, answered without importing typer (~0.1-0.2 s).

Only the exact forms `mlvc status` and `mlvc status --json` take this path; anything
else (`--help`, typos) goes through the typer application, which owns the parsing.
"""

from __future__ import annotations


def handles(args: list[str]) -> bool:
    return args in (["status"], ["status", "--json"])


def run(args: list[str]) -> int:
    from mlvc.cli.views import show_status

    show_status(json="--json" in args)
    return 0
