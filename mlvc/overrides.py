"""Command-line overrides as users pass them: Hydra's `key=value` (`+key=`, `++key=`,
`~key`), Kedro's `--params "a.b=1,c=2"`, `--set a.b=c`, `-p a=b`; and their values typed
the YAML way (`0.25`, `true`, `null`, `[64,32]`, `{a: 1}`, `'quoted'`).

Plain string work shared by params (which records overrides) and secrets (which redacts
them): both must split a command-line word into the same assignments.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

# A Hydra key: `model.lr`, `db@pkg`, `hydra/launcher`, `trainer.max-epochs`.
_ASSIGNMENT = re.compile(r"(\+{0,2})([A-Za-z_][A-Za-z0-9_.@/-]*)=(.*)", re.DOTALL)
_DELETION = re.compile(r"~([A-Za-z_][A-Za-z0-9_.@/-]*)(?:=(.*))?", re.DOTALL)
_INT = re.compile(r"[+-]?(0|[1-9][0-9]*)")
# A float needs a point or an exponent, so "007" (an id, not 7) stays text.
_FLOAT = re.compile(r"[+-]?(([0-9]+\.[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)")
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_OPEN, _CLOSE = "[{(", "]})"
# Brackets nested deeper than this are kept as text: a value is a config, not a puzzle.
_MAX_DEPTH = 16


class Assignment(NamedTuple):
    """One `key=value` of a command-line word, as written (`value` is None for `~key`)."""

    prefix: str  # "", "+", "++" or "~"
    key: str
    value: str | None

    def text(self, value: str | None = None) -> str:
        """The assignment written back, with `value` in place of its own when given."""
        shown = self.value if value is None else value
        return f"{self.prefix}{self.key}" + ("" if shown is None else f"={shown}")


def parse(word: str) -> list[Assignment] | None:
    """The assignments of one command-line word, or None when it is none.

    `a=1,b=[2,3]` is two assignments when every piece between top-level commas is one
    (Kedro's `--params`, `--set a=1,b=2`); otherwise the word is one assignment whose
    value holds the commas (Hydra's `db=mysql,postgres`, `tags=a,b`).
    """
    pieces = split(word, ",")
    if len(pieces) > 1:
        found = [_one(piece) for piece in pieces]
        if all(found):
            return [a for a in found if a is not None]
    single = _one(word)
    return [single] if single is not None else None


def join(assignments: list[Assignment], values: list[str | None]) -> str:
    """The word `parse` read, with each assignment's value replaced by `values`."""
    return ",".join(a.text(v) for a, v in zip(assignments, values, strict=True))


def leaves(assignment: Assignment) -> list[tuple[str, Any]]:
    """The dotted keys and values inside an assignment whose value holds a mapping
    (`db={user: u, password: p}` sets `db.user` and `db.password`); [] for any other."""
    if assignment.value is None or "{" not in assignment.value:
        return []
    found: list[tuple[str, Any]] = []
    _walk(value(assignment.value), assignment.key, found)
    return found


def _walk(node: Any, key: str, found: list[tuple[str, Any]]) -> None:
    if not isinstance(node, dict | list):
        return
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for name, item in items:
        found.append((f"{key}.{name}", item))
        _walk(item, f"{key}.{name}", found)


def _one(text: str) -> Assignment | None:
    match = _ASSIGNMENT.fullmatch(text)
    if match is not None:
        return Assignment(match[1], match[2], match[3])
    match = _DELETION.fullmatch(text)
    if match is not None:
        return Assignment("~", match[1], match[2])
    return None


def split(text: str, sep: str) -> list[str]:
    """`text` cut at each `sep` outside brackets and quotes (an unclosed one runs to the end)."""
    pieces, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth = max(depth - 1, 0)
        elif char == sep and depth == 0:
            pieces.append(text[start:index])
            start = index + 1
    pieces.append(text[start:])
    return pieces


def value(text: str, depth: int = 0) -> Any:
    """An override's value typed as Hydra and OmegaConf read it: true/false, null, an
    int (within int64), a finite float, a quoted string, a `[...]` list or a `{k: v}`
    mapping; anything else is the text itself (`1e999`, `nan` and `007` stay text)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if depth < _MAX_DEPTH and text[:1] + text[-1:] in ("[]", "{}"):
        inner = text[1:-1]
        items = split(inner, ",") if inner.strip() else []
        if text[0] == "[":
            return [value(item, depth + 1) for item in items]
        mapping = _mapping(items, depth)
        if mapping is not None:
            return mapping
    return None if text.lower() == "null" else scalar(text)


def _mapping(items: list[str], depth: int) -> dict[str, Any] | None:
    found: dict[str, Any] = {}
    for item in items:
        key, colon, rest = item.partition(":")
        if not colon or not key.strip():
            return None
        found[key.strip().strip("'\"")] = value(rest, depth + 1)
    return found


def scalar(text: str) -> Any:
    """A word as bool, int or float when it plainly is one, else the text itself."""
    lower = text.lower()
    if lower in ("true", "false"):
        return lower == "true"
    if _INT.fullmatch(text):
        number = int(text)
        return number if _INT64_MIN <= number <= _INT64_MAX else text
    if _FLOAT.fullmatch(text):
        real = float(text)
        # NaN never equals itself, so as a float it would show as a change in every diff.
        return real if math.isfinite(real) else text
    return text


def is_number(text: str) -> bool:
    """`-2`, `-.5`, `1e5`: a word that starts with `-` but is a value, not an option."""
    return _INT.fullmatch(text) is not None or _FLOAT.fullmatch(text) is not None
