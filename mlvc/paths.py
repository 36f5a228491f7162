"""Validation of names and workspace-relative paths, on write and on read."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from typing import Any

from mlvc.errors import UnsafePathError

_RESERVED = {".mlvc", ".git"}
# The one rule for names no tree may hold: controls and lone surrogates (the undecodable
# bytes of a name that is not UTF-8), separators, `.` and `..`, drive prefixes, and
# `.git`/`.mlvc` in any case. One regex: the walk tests it once per file on every status.
UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\\ud800-\udfff]|^\.\.?$|^[A-Za-z]:|^\.(?i:git|mlvc)$")
_DRIVE = re.compile(r"^[A-Za-z]:")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def check_name(name: str) -> str:
    """One path component as stored in a tree. Raises UnsafePathError."""
    if name and not UNSAFE_NAME.search(name):
        return name
    if name.lower() in _RESERVED:
        raise UnsafePathError(f"entry name {name!r} is reserved")
    raise UnsafePathError(f"unsafe entry name {name!r}")


def names_are_safe(names: tuple[str, ...]) -> bool:
    """Whether every one of `names` passes `check_name`, checked over them all at once
    (`_clean`): a tree of 20,000 entries in about 2 ms. False says only that one may not:
    check them one by one for the error."""
    if not names:
        return True
    joined = "/".join(names)
    return joined.count("/") == len(names) - 1 and _clean(joined)  # no name holds a `/`


def _clean(path: str) -> bool:
    """UNSAFE_NAME over every `/`-separated component of `path` at once, as two regexes
    with a fast scan each (a character class; a literal `/` before each component): a
    run checks every path it records, a checkout every name of its trees, and most are
    fine. Anything found goes to the per-component check, which names it."""
    bad_char, bad_component = _rules()
    return not bad_char.search(path) and not bad_component.search("/" + path)


@functools.cache
def _rules() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A control, a backslash or a lone surrogate; and after a `/`: `.`, `..`, `.git`,
    `.mlvc` (any case), a drive prefix, or nothing (`//`, a leading or trailing `/`).
    Compiled on first use: most commands check no path."""
    return (
        re.compile(r"[\x00-\x1f\x7f\\\ud800-\udfff]"),
        re.compile(r"/(?:\.\.?(?:/|$)|\.(?i:git|mlvc)(?:/|$)|[A-Za-z]:|/|$)"),
    )


def check_relpath(path: str) -> str:
    """A workspace-relative POSIX path such as `data/train.csv`. Raises UnsafePathError."""
    if path and _clean(path):
        return path
    if not path or path.startswith("/") or _DRIVE.match(path):
        raise UnsafePathError(f"path {path!r} is not relative to the workspace")
    for part in path.split("/"):
        check_name(part)
    return path


def storable(path: str) -> bool:
    """Whether a tree can hold the workspace-relative `path` (check_relpath accepts it)."""
    try:
        check_relpath(path)
    except UnsafePathError:
        return False
    return True


def is_text(value: str) -> bool:
    """False for a str holding lone surrogates: bytes that were not UTF-8, decoded with
    surrogateescape (file names, argv). The format stores UTF-8 text only."""
    return _SURROGATE.search(value) is None


def check_text(value: str, what: str) -> str:
    """`value` unless it holds bytes that are not UTF-8 (see `is_text`): such a name is
    never recorded, and the index and the format hold text only. Raises
    UndecodableTextError naming `what`."""
    if is_text(value):
        return value
    from mlvc.errors import UndecodableTextError

    shown = os.fsencode(value).decode("utf-8", "backslashreplace")
    raise UndecodableTextError(
        f"{what} '{shown}' is not valid UTF-8",
        hint="mlvc records names, commands, messages and tags as UTF-8 text only",
    )


class Globs:
    """Case-insensitive glob patterns matched against a workspace-relative path and its
    file name; `*` matches `/` too (`conf/prod/*`, `catalog*`). Configured patterns
    (`[secrets]`, `[params]`) all read this way."""

    __slots__ = ("_compiled", "_patterns")

    def __init__(self, patterns: tuple[str, ...] | list[str]) -> None:
        self._patterns = tuple(patterns)
        # Compiled on first use: most commands, and runs with no input, match nothing.
        self._compiled: re.Pattern[str] | None = None

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def match(self, rel: str, name: str | None = None) -> bool:
        """Whether `rel` or its file name (`name`, when the caller has it) matches."""
        if not self._patterns:
            return False
        regex = self._compiled or self._compile()
        return bool(regex.match(rel) or regex.match(name or rel.rpartition("/")[2]))

    def _compile(self) -> re.Pattern[str]:
        import fnmatch

        joined = "|".join(fnmatch.translate(p) for p in self._patterns)
        self._compiled = re.compile(joined, re.IGNORECASE)
        return self._compiled


# The fields that may be "." (the workspace itself); every other path names an entry in it.
_DOT_FIELDS = ("cwd", "code.toplevel")


def path_fields(value: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every path a run's value holds, as (field, path): the one list that encode and
    decode check, so no path reaches a filesystem call unchecked. `external` holds
    absolute paths outside the workspace and `code.untracked` git-top paths; both are
    shown, never used to touch a file, and are not in it."""
    for name in ("inputs", "outputs", "removed"):
        for path in value[name]:
            yield name, path
    yield "cwd", value["cwd"]
    code = value["code"]
    scripts = code.get("scripts", {})
    if not isinstance(scripts, dict):
        yield "code.scripts", scripts  # not a map of paths: refused as a bad path
    else:
        for path in scripts:
            yield "code.scripts", path
    if "toplevel" in code:
        yield "code.toplevel", code["toplevel"]


def check_path_field(name: str, path: Any) -> str:
    """The rule for every path field of a run (see path_fields): a workspace-relative
    POSIX path whose every component is a valid tree name (no "", ".", "..", ".git",
    ".mlvc", separators or control characters); `cwd` and `code.toplevel` may also be
    ".". Raises UnsafePathError naming the field and the path."""
    if isinstance(path, str) and path == "." and name in _DOT_FIELDS:
        return path
    try:
        if not isinstance(path, str):
            raise UnsafePathError("not a string")
        return check_relpath(path)
    except UnsafePathError as exc:
        raise UnsafePathError(f"unsafe {name} path {path!r} ({exc.message})") from None
