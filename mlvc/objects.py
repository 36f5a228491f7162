"""Frozen dataclasses for trees, manifests and runs, with their exact schemas."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from mlvc import codec
from mlvc.errors import CorruptObjectError, UnsafePathError
from mlvc.ids import ID_LEN, Kind, ObjectId, object_id
from mlvc.paths import check_name, check_path_field, names_are_safe, path_fields

EntryKind = Literal["file", "tree", "symlink"]
ENTRY_KINDS: tuple[EntryKind, ...] = ("file", "tree", "symlink")
_KIND_SET = frozenset(ENTRY_KINDS)
FORMAT_VERSION = 1


def _fail(what: str, problem: str) -> CorruptObjectError:
    return CorruptObjectError(f"{what}: {problem}")


def _oid(value: Any, what: str) -> ObjectId:
    if not isinstance(value, bytes) or len(value) != ID_LEN:
        raise _fail(what, "id is not 32 bytes")
    return ObjectId(value)


def _is(value: Any, expected: int) -> bool:
    """Exactly the integer `expected`: not True, not 1.0 (other bytes, same ==)."""
    return type(value) is int and value == expected


def _count(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(what, "expected a non-negative integer")
    return value


def _keys(value: Any, expected: set[str], what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != expected:
        raise _fail(what, f"expected exactly the fields {sorted(expected)}")
    return value


class TreeEntry(NamedTuple):
    """A NamedTuple: a tree of a million files makes a million of them (a frozen
    dataclass took 2.5 times as long to build)."""

    name: str
    kind: EntryKind
    executable: bool
    size: int
    id: ObjectId


@dataclass(frozen=True, slots=True)
class Tree:
    """A directory: entries sorted by name, names validated on write and on read."""

    entries: tuple[TreeEntry, ...]

    def encode(self) -> bytes:
        rows = [[e.name, e.kind, e.executable, e.size, e.id] for e in self.entries]
        names = [e.name for e in self.entries]
        if names != sorted(set(names)):
            raise ValueError("tree entries must be sorted and unique")
        for e in self.entries:
            check_name(e.name)
        return codec.encode({"v": FORMAT_VERSION, "entries": rows})

    @property
    def id(self) -> ObjectId:
        return object_id(Kind.TREE, self.encode())

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    @classmethod
    def decode(cls, data: bytes, what: str = "tree") -> Tree:
        raw = _keys(codec.decode(data, what), {"v", "entries"}, what)
        if not _is(raw["v"], FORMAT_VERSION) or not isinstance(raw["entries"], list):
            raise _fail(what, "unknown tree version or shape")
        rows = raw["entries"]
        entries = _sound_entries(rows)
        return cls(_checked_entries(rows, what) if entries is None else entries)


def _sound_entries(rows: list[Any]) -> tuple[TreeEntry, ...] | None:
    """The entries of a well-formed tree, checked a column at a time (C loops, not a
    Python loop per entry: 20,000 entries in a few ms); None when any check fails,
    and `_checked_entries` then names the problem."""
    if not rows:
        return ()
    if set(map(type, rows)) != {list} or set(map(len, rows)) != {5}:
        return None
    names, kinds, execs, sizes, ids = zip(*rows, strict=True)
    if (
        set(map(type, names)) != {str}
        or set(map(type, kinds)) != {str}
        or not _KIND_SET.issuperset(kinds)
        or not {bool}.issuperset(map(type, execs))
        or set(map(type, sizes)) != {int}
        or min(sizes) < 0
        or set(map(type, ids)) != {bytes}
        or set(map(len, ids)) != {ID_LEN}
        or not all(map(str.__lt__, names, names[1:]))  # sorted, unique
        or not names_are_safe(names)
    ):
        return None
    return tuple(map(tuple.__new__, itertools.repeat(TreeEntry), rows))


def _checked_entries(rows: list[Any], what: str) -> tuple[TreeEntry, ...]:
    entries = []
    previous = ""
    for row in rows:
        if not isinstance(row, list) or len(row) != 5:
            raise _fail(what, "entry is not [name, kind, exec, size, id]")
        name, kind, executable, size, oid = row
        if not isinstance(name, str) or name <= previous:
            raise _fail(what, "entry names are not sorted and unique")
        try:
            check_name(name)
        except UnsafePathError as exc:
            raise _fail(what, exc.message) from None
        if kind not in ENTRY_KINDS or not isinstance(executable, bool):
            raise _fail(what, f"entry {name!r} has a bad kind or exec bit")
        entries.append(TreeEntry(name, kind, executable, _count(size, what), _oid(oid, what)))
        previous = name
    return tuple(entries)


@dataclass(frozen=True, slots=True)
class Part:
    id: ObjectId
    length: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """A file larger than one chunk, stored under its file id.

    `level` 0: parts are chunks. Level 1: parts are ManifestNodes holding the chunks.
    Nodes keep a 1-byte edit in a multi-GiB file from rewriting the whole chunk list.
    """

    size: int
    level: int
    parts: tuple[Part, ...]

    def encode(self) -> bytes:
        return codec.encode(
            {
                "v": FORMAT_VERSION,
                "size": self.size,
                "level": self.level,
                "parts": [[p.id, p.length] for p in self.parts],
            }
        )

    @classmethod
    def decode(cls, data: bytes, what: str = "manifest") -> Manifest:
        raw = _keys(codec.decode(data, what), {"v", "size", "level", "parts"}, what)
        level = raw["level"]
        if not _is(raw["v"], FORMAT_VERSION) or not (_is(level, 0) or _is(level, 1)):
            raise _fail(what, "unknown manifest version or level")
        parts = _parts(raw["parts"], what)
        size = _count(raw["size"], what)
        if sum(p.length for p in parts) != size:
            raise _fail(what, "part lengths do not add up to the file size")
        return cls(size, raw["level"], parts)


@dataclass(frozen=True, slots=True)
class ManifestNode:
    parts: tuple[Part, ...]

    def encode(self) -> bytes:
        return codec.encode({"v": FORMAT_VERSION, "parts": [[p.id, p.length] for p in self.parts]})

    @property
    def id(self) -> ObjectId:
        return object_id(Kind.MANIFEST_NODE, self.encode())

    @classmethod
    def decode(cls, data: bytes, what: str = "manifest node") -> ManifestNode:
        raw = _keys(codec.decode(data, what), {"v", "parts"}, what)
        if not _is(raw["v"], FORMAT_VERSION):
            raise _fail(what, "unknown manifest node version")
        return cls(_parts(raw["parts"], what))


def _parts(rows: Any, what: str) -> tuple[Part, ...]:
    if not isinstance(rows, list):
        raise _fail(what, "parts is not a list")
    parts = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 2:
            raise _fail(what, "part is not [id, length]")
        parts.append(Part(_oid(row[0], what), _count(row[1], what)))
    return tuple(parts)


@dataclass(frozen=True, slots=True)
class PathRecord:
    """One input or output of a run: a file, tree or symlink at a workspace path."""

    id: ObjectId
    kind: EntryKind
    size: int
    producer_run: ObjectId | None = None
    executable: bool = False

    def to_value(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "size": self.size,
            "producer_run": self.producer_run,
        }
        # Present only when true: records written before the field existed keep their
        # bytes (and ids), and each record still has exactly one encoding.
        if self.executable:
            value["executable"] = True
        return value

    @classmethod
    def from_value(cls, value: Any, what: str) -> PathRecord:
        fields = {"id", "kind", "size", "producer_run"}
        if isinstance(value, dict) and "executable" in value:
            if value["executable"] is not True:
                raise _fail(what, "executable is present but not true")
            fields.add("executable")
        raw = _keys(value, fields, what)
        if raw["kind"] not in ENTRY_KINDS:
            raise _fail(what, "bad path kind")
        producer = raw["producer_run"]
        return cls(
            _oid(raw["id"], what),
            raw["kind"],
            _count(raw["size"], what),
            None if producer is None else _oid(producer, what),
            "executable" in raw,
        )


RunKind = Literal["run", "snapshot"]
RunRole = Literal["run", "snapshot", "reproduction", "safety"]
MAINLINE_ROLES: tuple[RunRole, ...] = ("run", "snapshot")
_FREE_SECTIONS = ("code", "params", "metrics", "environment", "resources", "owner", "logs")


@dataclass(frozen=True, slots=True)
class Run:
    """One step execution (`run`) or one `mlvc add` (`snapshot`): a node of the lineage DAG.

    Sections named in _FREE_SECTIONS are maps of plain values whose keys later
    issues extend; the fixed fields are validated exactly.
    """

    kind: RunKind
    started: str
    ended: str
    status: str
    command: tuple[str, ...] = ()
    cwd: str = "."
    exit_code: int | None = None
    inputs: dict[str, PathRecord] = field(default_factory=dict)
    outputs: dict[str, PathRecord] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    owner: dict[str, Any] = field(default_factory=dict)
    logs: dict[str, Any] = field(default_factory=dict)
    removed: tuple[str, ...] = ()
    external: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    tags: tuple[str, ...] = ()
    reproduces: ObjectId | None = None

    def to_value(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "kind": self.kind,
            "started": self.started,
            "ended": self.ended,
            "status": self.status,
            "command": list(self.command),
            "cwd": self.cwd,
            "exit_code": self.exit_code,
            "inputs": {p: r.to_value() for p, r in self.inputs.items()},
            "outputs": {p: r.to_value() for p, r in self.outputs.items()},
            "removed": list(self.removed),
            "external": self.external,
            "message": self.message,
            "tags": list(self.tags),
            "reproduces": self.reproduces,
        }
        for name in _FREE_SECTIONS:
            value[name] = getattr(self, name)
        return value

    def encode(self) -> bytes:
        value = self.to_value()
        for name, path in path_fields(value):
            check_path_field(name, path)
        return codec.encode(value)

    @property
    def id(self) -> ObjectId:
        return object_id(Kind.RUN, self.encode())

    @classmethod
    def decode(cls, data: bytes, what: str = "run") -> Run:
        fields = {"v", "kind", "started", "ended", "status", "command", "cwd", "exit_code"}
        fields |= {"inputs", "outputs", "removed", "external", "message", "tags", "reproduces"}
        fields |= set(_FREE_SECTIONS)
        raw = _keys(codec.decode(data, what), fields, what)
        if not _is(raw["v"], FORMAT_VERSION) or raw["kind"] not in ("run", "snapshot"):
            raise _fail(what, "unknown run version or kind")
        for name in ("started", "ended", "status", "cwd", "message"):
            if not isinstance(raw[name], str):
                raise _fail(what, f"{name} is not a string")
        for name in _FREE_SECTIONS:
            if not isinstance(raw[name], dict):
                raise _fail(what, f"{name} is not a map")
        if not all(_strings(raw[name]) for name in ("command", "tags", "removed")):
            raise _fail(what, "command, tags and removed must be lists of strings")
        if not all(isinstance(raw[name], dict) for name in ("external", "inputs", "outputs")):
            raise _fail(what, "external, inputs and outputs must be maps")
        for name, path in path_fields(raw):
            try:
                check_path_field(name, path)
            except UnsafePathError as exc:
                raise CorruptObjectError(
                    f"{what}: {exc.message}",
                    hint="the run was damaged or crafted; mlvc refuses to use it",
                ) from None
        if raw["exit_code"] is not None and type(raw["exit_code"]) is not int:
            raise _fail(what, "exit_code is not an integer")
        return cls(
            kind=raw["kind"],
            started=raw["started"],
            ended=raw["ended"],
            status=raw["status"],
            command=tuple(raw["command"]),
            cwd=raw["cwd"],
            exit_code=raw["exit_code"],
            inputs=_records(raw["inputs"], what),
            outputs=_records(raw["outputs"], what),
            removed=tuple(raw["removed"]),
            external=raw["external"],
            message=raw["message"],
            tags=tuple(raw["tags"]),
            reproduces=None if raw["reproduces"] is None else _oid(raw["reproduces"], what),
            **{name: raw[name] for name in _FREE_SECTIONS},
        )


def run_role(run: Run) -> RunRole:
    """What a run means in history, derived from the object alone (so a rebuilt index
    agrees, and stores written before roles were indexed are classified alike):
    `reproduction` (it has `reproduces`), `safety` (a snapshot `mlvc checkout` made of
    files it was about to overwrite: its command is always `mlvc checkout RUN`), else
    its kind. Only `run` and `snapshot` are the mainline: `latest`, a path's versions,
    blame. See docs/format.md, Roles."""
    if run.reproduces is not None:
        return "reproduction"
    if run.kind == "snapshot" and run.command[:2] == ("mlvc", "checkout"):
        return "safety"
    return run.kind


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _records(value: dict[str, Any], what: str) -> dict[str, PathRecord]:
    """Path records by path: the paths are checked with the other path fields."""
    records = {}
    for path, record in value.items():
        records[path] = PathRecord.from_value(record, f"{what} path {path!r}")
    return records
