"""Rendering results: JSON for scripts, rich for people; rich is imported only when used."""

from __future__ import annotations

import math
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console
    from rich.progress import Progress


def plain(value: Any) -> Any:
    """JSON-ready: ids (bytes) become hex, tuples lists, dataclasses dicts."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if hasattr(value, "__fspath__"):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN and infinities are not JSON: "nan", "inf", "-inf"
    return value


def emit_json(value: Any) -> None:
    import json

    sys.stdout.write(json.dumps(plain(value), indent=2, sort_keys=True) + "\n")


def out() -> Console:
    from rich.console import Console

    # Piped output is not cut to 80 columns: tables stay one row per line, like git's.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def err() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


Segment = tuple[str, str | None]
"""Text and the rich style to show it in on a terminal (None: unstyled)."""


def print_lines(lines: list[list[Segment]]) -> None:
    """Print lines of segments: styled by rich on a terminal, plain text otherwise (rich,
    ~50 ms of imports, is then never loaded). The text is never read as rich markup, so
    a path holding brackets prints as it is."""
    if not sys.stdout.isatty():
        sys.stdout.write("".join("".join(text for text, _ in line) + "\n" for line in lines))
        return
    from rich.text import Text

    console = out()
    for line in lines:
        console.print(Text.assemble(*((text, style or "") for text, style in line)))


def columns(title: str, header: list[str], rows: list[list[str]], right: set[int]) -> None:
    """A plain aligned table, git-style, without importing rich (~85 ms of start-up): for
    the commands a script may call in a loop, such as `mlvc log PATH`. The title and the
    header are bold on a terminal."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    bold, reset = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")
    sys.stdout.write(f"{bold}{title}{reset}\n{bold}{line(header)}{reset}\n")
    for row in rows:
        sys.stdout.write(line(row) + "\n")


def size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


class Bytes:
    """A progress callback that shows a rich bar on stderr only once work has taken over a
    second, and only on a terminal; quick commands and pipes stay silent."""

    DELAY = 1.0

    def __init__(self, label: str, total: int | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.bar: Progress | None = None
        self.task: Any = None
        self.enabled = sys.stderr.isatty()

    def __call__(self, n: int) -> None:
        self.done += n
        if self.bar is None:
            if not self.enabled or time.monotonic() - self.started < self.DELAY:
                return
            self._start()
        assert self.bar is not None
        self.bar.update(self.task, completed=self.done)

    def _start(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TransferSpeedColumn,
        )

        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            console=err(),
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=self.total, completed=self.done)

    def set_total(self, total: int) -> None:
        """The amount of work, once the command knows it: the bar then shows how far."""
        self.total = total
        if self.bar is not None:
            self.bar.update(self.task, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
