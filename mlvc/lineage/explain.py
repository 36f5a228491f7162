"""Why two versions of an output differ, in one line people can act on: the first
differing line of a text, the differing keys of a JSON/YAML/TOML document, where two
pickles part (read opcode by opcode with pickletools, never unpickled: outputs are
untrusted data), or the first differing byte. And why a reproduction could not match:
code that was never recorded, inputs that were never declared."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from mlvc.lineage.pathdiff import TEXT_LIMIT
from mlvc.objects import PathRecord, Run
from mlvc.repo import Repo

SHOWN = 60  # characters of a line or value quoted in a reason
KEYS_SHOWN = 3
_DOCUMENTS = (".json", ".yaml", ".yml", ".toml")
_PICKLES = (".pkl", ".pickle", ".joblib", ".pt", ".pth")
_STRINGS = ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "STRING", "BINSTRING")
_SHELLS = ("sh", "bash", "dash", "zsh", "ksh")
# "No such file or directory: 'x'" (Python), "cat: x: No such file or directory" (tools).
_MISSING = (
    re.compile(r"No such file or directory: '([^'\n]+)'"),
    re.compile(r"^[\w.-]+: (?:\d+: )?(?:cannot open |can't open )?([^:\n]+): No such file", re.M),
)


def why_differs(
    repo: Repo, path: str, old: PathRecord, new: PathRecord, files: Sequence[str] = ()
) -> str | None:
    """One line saying how `new` differs from `old` (both at `path`), or None when
    nothing better than "differs" can be said. `files`: the differing files of two trees."""
    if old.kind != new.kind:
        return f"was a {old.kind}, is now a {new.kind}"
    if old.kind == "tree":
        return _tree(repo, path, old, new, files)
    if old.kind == "symlink":
        return "the link points elsewhere"
    a, b = _read(repo, old), _read(repo, new)
    if a is None or b is None:
        return f"{old.size:,} B -> {new.size:,} B (too large to compare here)"
    return _keys(path, a, b) or _pickle(path, a, b) or _text(a, b) or _bytes(a, b)


def _tree(
    repo: Repo, path: str, old: PathRecord, new: PathRecord, files: Sequence[str]
) -> str | None:
    from mlvc.lineage.resolve import find_in_tree

    if not files:
        return None
    first = files[0]
    a, b = find_in_tree(repo, old.id, first), find_in_tree(repo, new.id, first)
    count = f"{len(files)} file{'s' if len(files) != 1 else ''} differ"
    if a is None or b is None:
        return f"{count}; {first} {'is new' if a is None else 'is missing'}"
    inner = why_differs(repo, f"{path}/{first}", a, b)
    return f"{count}; {first}: {inner}" if inner else f"{count}; first {first}"


def _read(repo: Repo, record: PathRecord) -> bytes | None:
    if record.size > TEXT_LIMIT * 16:
        return None
    return b"".join(repo.store.iter_file(record.id))


def _keys(path: str, a: bytes, b: bytes) -> str | None:
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _DOCUMENTS:
        return None
    old, new = _document(suffix, a), _document(suffix, b)
    if old is None or new is None:
        return None
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k, _GONE) != new.get(k, _GONE))
    if not keys:
        return None
    shown = [f"{k} {_value(old, k)} -> {_value(new, k)}" for k in keys[:KEYS_SHOWN]]
    more = f" (+{len(keys) - KEYS_SHOWN} more)" if len(keys) > KEYS_SHOWN else ""
    return f"key{'s' if len(keys) != 1 else ''} differ: {', '.join(shown)}{more}"


_GONE = object()


def _value(values: Mapping[str, Any], key: str) -> str:
    return _quote(repr(values[key])) if key in values else "(none)"


def _document(suffix: str, data: bytes) -> dict[str, Any] | None:
    from mlvc.params import flatten

    document = _parse(suffix, data)
    return flatten(document) if isinstance(document, dict) else None


def _parse(suffix: str, data: bytes) -> Any:
    """The parsed document, or None when it does not parse."""
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except (yaml.YAMLError, ValueError, RecursionError):
            return None
    try:
        if suffix == ".json":
            import json

            return json.loads(data)
        import tomllib

        return tomllib.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return None


def _pickle(path: str, a: bytes, b: bytes) -> str | None:
    """Where two pickles part, by opcode, and inside which class's object."""
    if not (path.lower().endswith(_PICKLES) or (a[:1] == b[:1] == b"\x80")):
        return None
    owner: str | None = None
    try:
        for (op_a, arg_a, pos), (op_b, arg_b, _), owner in _paired(a, b):
            # A frame's length follows from what is in it: compare what is in it.
            if op_a != op_b or (arg_a != arg_b and op_a != "FRAME"):
                where = f" inside a {owner} object" if owner else ""
                return f"pickles differ at byte {pos:,}{where} ({op_a} -> {op_b})"
    except ValueError:  # not a pickle, or raw data after one (joblib's arrays)
        pass
    first = _first_byte(a, b)
    inside = f" inside a {owner} object" if owner else ""
    return f"pickles differ at byte {first:,}{inside} ({len(a):,} B -> {len(b):,} B)"


def _paired(
    a: bytes, b: bytes
) -> Iterator[tuple[tuple[str, Any, int], tuple[str, Any, int], str | None]]:
    """The opcodes of two pickles side by side, with the class last named before them."""
    import itertools
    import pickletools

    owner: str | None = None
    strings: list[str] = []
    end = ("(end)", None, min(len(a), len(b)))
    pairs = itertools.zip_longest(pickletools.genops(a), pickletools.genops(b))
    for op_a, op_b in pairs:
        left = end if op_a is None else (op_a[0].name, op_a[1], op_a[2] or 0)
        right = end if op_b is None else (op_b[0].name, op_b[1], op_b[2] or 0)
        yield left, right, owner
        if left[0] in _STRINGS and isinstance(left[1], str):
            strings = [*strings[-1:], left[1]]
        elif left[0] == "STACK_GLOBAL" and len(strings) == 2:
            owner = ".".join(strings)
        elif left[0] == "GLOBAL" and isinstance(left[1], str):
            owner = left[1].replace(" ", ".")


def _text(a: bytes, b: bytes) -> str | None:
    if b"\0" in a or b"\0" in b:
        return None
    try:
        old, new = a.decode("utf-8").splitlines(), b.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None
    for number, (x, y) in enumerate(zip(old, new, strict=False), 1):
        if x != y:
            return f"line {number}: {_quote(repr(x))} -> {_quote(repr(y))}"
    if not new:
        return f"now empty (was {_lines(len(old))})"
    if not old:
        return f"was empty, now {_lines(len(new))}"
    if len(old) != len(new):
        same = min(len(old), len(new))
        return f"{_lines(len(old))} -> {_lines(len(new))}, the first {same} the same"
    return "the same lines, other line endings or final newline"


def _lines(n: int) -> str:
    return f"{n} line{'s' if n != 1 else ''}"


def _bytes(a: bytes, b: bytes) -> str:
    return f"{len(a):,} B -> {len(b):,} B, first differing byte at offset {_first_byte(a, b):,}"


def _first_byte(a: bytes, b: bytes) -> int:
    """The first offset where they differ (the shorter's length when one is a prefix)."""
    end, start, block = min(len(a), len(b)), 0, 1 << 16
    # Equal blocks compared in C; only the first unequal one byte by byte.
    while start < end and a[start : start + block] == b[start : start + block]:
        start += block
    return next((i for i in range(start, min(start + block, end)) if a[i] != b[i]), end)


def _quote(text: str) -> str:
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


# -- why a reproduction could not match ----------------------------------------------


def causes(repo: Repo, original: Run, reproduction: Run) -> list[str]:
    """What kept a reproduction from matching, where the record says: a command that read
    its code from stdin, files the reproduction found missing that the original never
    recorded (as an input)."""
    found = []
    if reads_stdin(original.command):
        found.append("code not recorded (command read from stdin)")
    for path in _missing(repo, reproduction):
        rel = (
            os.path.normpath(os.path.join(original.cwd, path)) if not os.path.isabs(path) else path
        )
        if rel not in original.inputs and rel not in original.outputs:
            found.append(f"input {rel} was never recorded: declare it with -i")
    return list(dict.fromkeys(found))


def reads_stdin(argv: Sequence[str]) -> bool:
    """A Python or shell command with no script and no -c/-m: its code came from stdin."""
    if not argv:
        return False
    name = os.path.basename(argv[0])
    rest = list(argv[1:])
    if re.fullmatch(r"python[\d.]*", name):
        words = [w for w in rest if not (w.startswith("-") and w not in ("-", "-c", "-m"))]
        return not words or words[0] == "-"
    if name in _SHELLS:
        return not rest or rest[0] == "-s"
    return False


def _missing(repo: Repo, run: Run) -> list[str]:
    """Files the run's stderr says were not found (first 1 MiB of it)."""
    stderr = run.logs.get("stderr")
    if not isinstance(stderr, bytes):
        return []
    data = b""
    for chunk in repo.store.iter_file(stderr):
        data += chunk
        if len(data) > 1 << 20:
            break
    text = data[: 1 << 20].decode("utf-8", errors="replace")
    return list(dict.fromkeys(m.group(1).strip() for p in _MISSING for m in p.finditer(text)))
