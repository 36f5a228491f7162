"""The command line: `main` answers `--version` before importing anything heavy."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):
        from mlvc import __version__

        sys.stdout.write(f"mlvc {__version__}\n")
        sys.exit(0)
    from mlvc.cli.handler import run

    sys.exit(run(args))
