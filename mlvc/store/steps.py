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

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
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


def facts_of(run: Run) -> StepFacts:
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


def step_facts(
    directory: Path, run_ids: list[ObjectId], load: Callable[[ObjectId], Run]
) -> dict[ObjectId, StepFacts]:
    """The facts of each of `run_ids`, from the memo in `directory`, or else from
    `load(run_id)` (then added to the memo)."""
    path = directory / NAME
    cached, sound = _read(path)
    found: dict[ObjectId, StepFacts] = {}
    missing: dict[ObjectId, StepFacts] = {}
    for run_id in run_ids:
        facts = cached.get(run_id)
        if facts is None:
            facts = missing[run_id] = facts_of(load(run_id))
        found[run_id] = facts
    if not sound or len(cached) > 2 * len(found) + 100:  # damaged, or mostly forgotten runs
        _rewrite(path, found)
    elif missing:
        _append(path, missing)
    return found


def remember(directory: Path, run_id: ObjectId, run: Run) -> None:
    """Add a just-recorded command run's entry (best effort: a miss is loaded later)."""
    path = directory / NAME
    entry = {run_id: facts_of(run)}
    with contextlib.suppress(OSError, ValueError, TypeError):
        # The first entry creates the memo with its header, in one write: a reader
        # that finds it missing other runs loads those and appends them.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, _header() + _packed(entry))
        finally:
            os.close(fd)
        return
    _append(path, entry)


def _read(path: Path) -> tuple[dict[ObjectId, StepFacts], bool]:
    """The entries, and whether the file is sound (absent counts as damaged: written)."""
    import msgpack

    found: dict[ObjectId, StepFacts] = {}
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
            oid, facts = _entry(entry)
            found[oid] = facts
    except (ValueError, TypeError, AttributeError, msgpack.UnpackException):
        return found, False
    # A torn last entry (a crash mid-append) must go before anything is appended after it.
    return found, unpacker.tell() == len(data)


def _entry(entry: Any) -> tuple[ObjectId, StepFacts]:
    """One entry, checked (a ValueError or TypeError when malformed)."""
    oid, command, cwd, outputs, scripts, kinds, params = entry
    texts = (*command, cwd, *outputs, *scripts, *kinds.keys(), *kinds.values())
    if not isinstance(oid, bytes) or not all(isinstance(t, str) for t in texts):
        raise ValueError("malformed step memo entry")
    if not all(isinstance(v, bytes) for v in scripts.values()) or not isinstance(params, dict):
        raise ValueError("malformed step memo entry")
    return ObjectId(oid), StepFacts(tuple(command), cwd, tuple(outputs), scripts, kinds, params)


def _packed(found: dict[ObjectId, StepFacts]) -> bytes:
    import msgpack

    return b"".join(
        msgpack.packb([bytes(oid), *facts], use_bin_type=True) for oid, facts in found.items()
    )


def _header() -> bytes:
    import msgpack

    return msgpack.packb([_MAGIC, FORMAT])  # type: ignore[no-any-return]


def _append(path: Path, found: dict[ObjectId, StepFacts]) -> None:
    """One write in append mode: concurrent appenders do not interleave."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        data = _packed(found)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def _rewrite(path: Path, found: dict[ObjectId, StepFacts]) -> None:
    """The whole memo again, atomically (a temporary file renamed over it)."""

    tmp = path.with_name(f"steps.{os.getpid()}.tmp")
    with contextlib.suppress(OSError, ValueError, TypeError):
        tmp.write_bytes(_header() + _packed(found))
        os.replace(tmp, path)
