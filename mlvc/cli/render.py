"""Rendering results: JSON for scripts, rich for people; rich is imported only when used."""

from __future__ import annotations

import re
import sys
import time

from mlvc.encode import plain as plain  # the JSON-ready form, for the views that print it
from mlvc.encode import to_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console
    from rich.progress import Progress
    from rich.text import Text


def emit_json(value: Any) -> None:
    sys.stdout.write(to_json(value))


# What user text (paths, messages, params, argv, file content) may not put on a terminal
# as it is: C0 and C1 controls (ESC starts every ANSI sequence), DEL, the bidirectional
# overrides and isolates (they reorder what is shown), line and paragraph separators,
# and lone surrogates (a file name's undecodable bytes, which no terminal can print).
_HIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(char: str) -> str:
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the undecodable byte itself
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _escape_inline(match: re.Match[str]) -> str:
    return _escape(match.group())


def _escape_block(match: re.Match[str]) -> str:
    char = match.group()
    return char if char in "\n\t" else _escape(char)


def shown(text: object, block: bool = False) -> str:
    """User text as it may be shown: every character in _HIDDEN escaped as `\\n`, `\\t`,
    `\\x1b`, `\\u202e` (a surrogate-escaped byte as `\\xff`), so the text can neither
    drive the terminal nor break a line. `block` keeps newlines and tabs (a message, the
    lines of a file). Only for display: --json carries the exact text."""
    return _HIDDEN.sub(_escape_block if block else _escape_inline, str(text))


def out() -> Console:
    """The console every rich view prints with. It never reads markup or emoji codes
    (`[bold]`, `:x:`) in strings: user text is data, so styles come from Text and
    Segment styles only. Strings must still go through `shown` (rich passes ESC on)."""
    from rich.console import Console

    # Piped output is not cut to 80 columns: tables stay one row per line, like git's.
    return Console(
        highlight=False,
        markup=False,
        emoji=False,
        width=None if sys.stdout.isatty() else 160,
    )


def err() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, markup=False, emoji=False)


UNSTORABLE_HINT = (
    "hint: mlvc stores UTF-8 names without control characters, backslashes, drive"
    " prefixes or .git/.mlvc components; rename them, or list them in .mlvcignore"
)


def warn_skipped(names: list[str] | tuple[str, ...], listed: int = 5) -> None:
    """`warning: skipped N name(s) mlvc cannot store: A, B and 3 more` on stderr (the
    names through `shown`), then the hint; nothing when there are none."""
    if not names:
        return
    first = ", ".join(shown(n) for n in names[:listed])
    more = f" and {len(names) - listed} more" if len(names) > listed else ""
    count = f"{len(names)} name{'s' if len(names) != 1 else ''}"
    sys.stderr.write(f"warning: skipped {count} mlvc cannot store: {first}{more}\n")
    sys.stderr.write(UNSTORABLE_HINT + "\n")


Segment = tuple[str, str | None]
"""Text and the rich style to show it in on a terminal (None: unstyled)."""


def print_lines(lines: list[list[Segment]]) -> None:
    """Print lines of segments: styled by rich on a terminal, plain text otherwise (rich,
    ~50 ms of imports, is then never loaded). The text is never read as rich markup and
    passes through `shown`, so a path holding brackets or an escape prints as it is."""
    if not sys.stdout.isatty():
        sys.stdout.write("".join("".join(shown(t) for t, _ in line) + "\n" for line in lines))
        return
    console = out()
    for line in lines:
        console.print(styled(line))


def styled(line: list[Segment]) -> Text:
    """One line of segments as rich Text, each text through `shown`."""
    from rich.text import Text

    return Text.assemble(*((shown(text), style or "") for text, style in line))


def columns(title: str, header: list[str], rows: list[list[str]], right: set[int]) -> None:
    """A plain aligned table, git-style, without importing rich (~85 ms of start-up): for
    the commands a script may call in a loop, such as `mlvc log PATH`. The title and the
    header are bold on a terminal; every cell passes through `shown`."""
    title = shown(title)
    rows = [[shown(c) for c in row] for row in rows]
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


def when(iso: str) -> str:
    """A recorded UTC timestamp as `YYYY-MM-DD HH:MM:SS`."""
    return iso.replace("T", " ")[:19]


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
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
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
