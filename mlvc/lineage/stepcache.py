"""`.mlvc/steps.msgpack`: the command and cwd of every recorded command run, so that
inferring the pipeline's steps on each `status` need not decode every run object.

A pure memo: a run object is immutable (its id is its content's hash), so an entry never
goes out of date. Runs no longer in the index are dropped when the file is rewritten; a
missing, damaged or foreign file is rebuilt from the store. Deleting it is always safe.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from mlvc.ids import ObjectId
from mlvc.lineage.resolve import load_run
from mlvc.repo import Repo

StepKey = tuple[tuple[str, ...], str]  # (command, cwd)
FORMAT = 1


def step_keys(repo: Repo, run_ids: list[ObjectId]) -> dict[ObjectId, StepKey]:
    """The (command, cwd) of each of `run_ids`, from the memo or the store."""
    path = repo.dir / "steps.msgpack"
    cached = _read(path)
    found: dict[ObjectId, StepKey] = {}
    for run_id in run_ids:
        key = cached.get(run_id)
        if key is None:
            run = load_run(repo, run_id)
            key = (run.command, run.cwd)
        found[run_id] = key
    if found.keys() != cached.keys():
        _write(path, found)
    return found


def _read(path: Any) -> dict[ObjectId, StepKey]:
    import msgpack

    with contextlib.suppress(OSError, ValueError, TypeError, msgpack.UnpackException):
        data = msgpack.unpackb(path.read_bytes(), raw=False, use_list=True)
        if isinstance(data, list) and len(data) == 2 and data[0] == FORMAT:
            return {
                ObjectId(oid): (tuple(argv), cwd) for oid, argv, cwd in data[1] if _ok(argv, cwd)
            }
    return {}


def _ok(argv: Any, cwd: Any) -> bool:
    return isinstance(cwd, str) and isinstance(argv, list) and all(isinstance(a, str) for a in argv)


def _write(path: Any, found: dict[ObjectId, StepKey]) -> None:
    """Best effort, atomically (a temporary file renamed over it)."""
    import msgpack

    rows = [[bytes(oid), list(argv), cwd] for oid, (argv, cwd) in found.items()]
    tmp = path.with_name(f"steps.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        tmp.write_bytes(msgpack.packb([FORMAT, rows]))
        os.replace(tmp, path)
