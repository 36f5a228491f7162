"""`.mlvc/steps.msgpack`: what the stale-step check needs of every successful command run
(its command, cwd, outputs, scripts, the kinds of its inputs that are no plain file, and
its params), so that `status` infers the pipeline without decoding run objects: no object
store, no decompression.

A pure memo, appended to: a run object is immutable (its id is its content's hash), so
an entry never goes out of date. `mlvc run` appends its run's entry as it records it; a
reader that misses a run loads it from the store and appends it. The file is one msgpack
stream: a header `["mlvc-steps", FORMAT]`, then one entry per run (see docs/format.md);
a later entry for a run replaces an earlier one. A damaged tail (a crash mid-append) is
dropped; a damaged or foreign file, or one holding many runs no longer indexed, is
rewritten whole, atomically. Deleting it is always safe.
"""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation, and the first compile() of a process costs ~10 M instructions of start-up
# for every command that imports this module.

import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from mlvc.ids import ObjectId

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mlvc.objects import Run

StepKey = tuple[tuple[str, ...], str]  # (command, cwd)
NAME = "steps.msgpack"
FORMAT = 2
_MAGIC = "mlvc-steps"


class StepFacts(NamedTuple):
    """One command run, as the stale check sees it."""

    command: tuple[str, ...]
    cwd: str
    outputs: tuple[str, ...]
    scripts: dict[str, bytes]  # code.scripts: path -> content id
    kinds: dict[str, str]  # input path -> kind, for the inputs that are no plain file
    params: dict[str, Any]

    @property
    def key(self) -> StepKey:
        return (self.command, self.cwd)


def facts_of(run: "Run") -> StepFacts:
    scripts = run.code.get("scripts")
    return StepFacts(
        run.command,
        run.cwd,
        tuple(run.outputs),
        {
            path: bytes(oid)
            for path, oid in (scripts.items() if isinstance(scripts, dict) else ())
            if isinstance(path, str) and isinstance(oid, bytes)
        },
        {path: rec.kind for path, rec in run.inputs.items() if rec.kind != "file"},
        dict(run.params),
    )


class Memo:
    """The memo's answer for a list of runs: the step of each (decoded once per distinct
    step, not per run: 10,000 runs are a few dozen steps), and each run's facts on demand
    (checked then: only the latest run of each step is ever asked for)."""

    def __init__(
        self, path: Path, raw: dict[ObjectId, list[Any]], load: Callable[[ObjectId], "Run"]
    ) -> None:
        self._path = path
        self._raw = raw
        self._load = load
        blobs: dict[bytes, StepKey | None] = {}
        self.keys: dict[ObjectId, StepKey] = {}
        for run_id, entry in raw.items():
            blob = entry[1]
            key = blobs[blob] if blob in blobs else blobs.setdefault(blob, _key(blob))
            self.keys[run_id] = key if key is not None else self._repair(run_id).key

    def facts(self, run_id: ObjectId) -> StepFacts:
        entry = self._raw[run_id]
        try:
            return _facts(entry, self.keys[run_id])
        except (ValueError, TypeError, AttributeError):
            return self._repair(run_id)

    def _repair(self, run_id: ObjectId) -> StepFacts:
        """A damaged entry's facts from the store; the right entry is appended."""
        facts = facts_of(self._load(run_id))
        self._raw[run_id] = _raw_entry(facts)
        _append(self._path, {run_id: self._raw[run_id]})
        return facts


def step_facts(directory: Path, run_ids: list[ObjectId], load: Callable[[ObjectId], "Run"]) -> Memo:
    """The steps of `run_ids` and their facts, from the memo in `directory`, or else
    from `load(run_id)` (then added to the memo)."""
    path = directory / NAME
    cached, sound = _read(path)
    found: dict[ObjectId, list[Any]] = {}
    missing: dict[ObjectId, list[Any]] = {}
    for run_id in run_ids:
        entry = cached.get(run_id)
        if entry is None:
            entry = missing[run_id] = _raw_entry(facts_of(load(run_id)))
        found[run_id] = entry
    if not sound or len(cached) > 2 * len(found) + 100:  # damaged, or mostly forgotten runs
        _rewrite(path, found)
    elif missing:
        _append(path, missing)
    return Memo(path, found, load)


def remember(directory: Path, runs: "Mapping[ObjectId, Run]") -> None:
    """Add the entries of the steps among `runs` (successful command runs), just recorded
    or fetched: a status after a clone then needs no run object (best effort: a miss is
    loaded later)."""
    from mlvc.objects import run_role

    entries = {
        run_id: _raw_entry(facts_of(run))
        for run_id, run in runs.items()
        if run.status == "ok" and run_role(run) == "run"
    }
    if not entries:
        return
    path = directory / NAME
    with contextlib.suppress(OSError, ValueError, TypeError):
        # The first entries create the memo with its header, in one write: a reader
        # that finds it missing other runs loads those and appends them.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, _header() + _packed(entries))
        finally:
            os.close(fd)
        return
    _append(path, entries)


def _read(path: Path) -> tuple[dict[ObjectId, list[Any]], bool]:
    """The raw entries, and whether the file is sound (absent counts as damaged). Only
    their framing is checked here; an entry's content when it is used (see Memo)."""
    import msgpack

    found: dict[ObjectId, list[Any]] = {}
    try:
        data = path.read_bytes()
    except OSError:
        return found, False
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    try:
        if unpacker.unpack() != [_MAGIC, FORMAT]:
            return found, False
        for entry in unpacker:
            if len(entry) != 6 or type(entry[0]) is not bytes or type(entry[1]) is not bytes:
                return found, False
            found[ObjectId(entry[0])] = entry
    except (ValueError, TypeError, msgpack.UnpackException):
        return found, False
    # A torn last entry (a crash mid-append) must go before anything is appended after it.
    return found, unpacker.tell() == len(data)


def _raw_entry(facts: StepFacts) -> list[Any]:
    """`[run id, packed [argv, cwd], outputs, scripts, kinds, params]` (run id added by
    the writer): the key packed apart, so that grouping runs by step compares bytes."""
    import msgpack

    key = msgpack.packb([list(facts.command), facts.cwd])
    return [b"", key, list(facts.outputs), facts.scripts, facts.kinds, facts.params]


def _key(blob: bytes) -> StepKey | None:
    """A step's key from its packed form (None: damaged)."""
    import msgpack

    try:
        command, cwd = msgpack.unpackb(blob, raw=False)
        if (
            isinstance(cwd, str)
            and isinstance(command, list)
            and all(isinstance(w, str) for w in command)
        ):
            return (tuple(command), cwd)
    except (ValueError, TypeError, msgpack.UnpackException):
        pass
    return None


def _facts(entry: list[Any], key: StepKey) -> StepFacts:
    """An entry's facts, checked (a ValueError, TypeError or AttributeError if not)."""
    _, _, outputs, scripts, kinds, params = entry
    texts = (*outputs, *scripts, *kinds.keys(), *kinds.values())
    if not all(isinstance(t, str) for t in texts) or not isinstance(params, dict):
        raise ValueError("malformed step memo entry")
    if not all(isinstance(v, bytes) for v in scripts.values()):
        raise ValueError("malformed step memo entry")
    return StepFacts(key[0], key[1], tuple(outputs), scripts, kinds, params)


def _packed(found: dict[ObjectId, list[Any]]) -> bytes:
    import msgpack

    return b"".join(
        msgpack.packb([bytes(oid), *entry[1:]], use_bin_type=True) for oid, entry in found.items()
    )


def _header() -> bytes:
    import msgpack

    return msgpack.packb([_MAGIC, FORMAT])  # type: ignore[no-any-return]


def _append(path: Path, found: dict[ObjectId, list[Any]]) -> None:
    """One write in append mode: concurrent appenders do not interleave."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        data = _packed(found)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def _rewrite(path: Path, found: dict[ObjectId, list[Any]]) -> None:
    """The whole memo again, atomically (a temporary file renamed over it)."""
    tmp = path.with_name(f"steps.{os.getpid()}.tmp")
    with contextlib.suppress(OSError, ValueError, TypeError):
        tmp.write_bytes(_header() + _packed(found))
        os.replace(tmp, path)
