"""`render.shown`: user text made safe to print, and the console that reads no markup."""

from __future__ import annotations

import io
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from mlvc.cli import render


def test_controls_and_escapes_are_shown_escaped() -> None:
    assert render.shown("a\x1b[31mb\tc\nd\re\x07") == "a\\x1b[31mb\\tc\\nd\\re\\x07"
    assert render.shown("x\u202ey\u2028") == "x\\u202ey\\u2028"
    assert render.shown("z\udcff") == "z\\xff"  # a surrogate-escaped byte, as the byte
    assert render.shown("[bold]é ✓ :smile:") == "[bold]é ✓ :smile:"


def test_a_block_keeps_its_lines_and_tabs() -> None:
    assert render.shown("a\tb\nc\x1b", block=True) == "a\tb\nc\\x1b"


@given(st.text())
def test_shown_text_holds_nothing_a_terminal_acts_on(text: str) -> None:
    out = render.shown(text)
    assert all(
        unicodedata.category(c) not in ("Cc", "Cs") and c not in "\u2028\u2029\u202e" for c in out
    )
    assert render.shown(out) == out  # idempotent: escaping twice changes nothing


def test_the_console_reads_no_markup_or_emoji() -> None:
    console = render.out()
    console.file = io.StringIO()
    console.print("[bold]x[/] [/] :smile:")
    assert console.file.getvalue() == "[bold]x[/] [/] :smile:\n"
