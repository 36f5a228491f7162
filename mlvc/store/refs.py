"""Tags: `.mlvc/refs/tags/NAME` holds a run id; `.mlvc/logs/tags/NAME` keeps its history.

A tag moves by compare-and-swap under `NAME.lock` (O_EXCL), as git updates refs, so two
people moving `prod` at once cannot lose either move. Each move appends one JSON line to
the tag's log: who, when, from which run to which, why. Teams tag what they deploy, so
the log answers "what was in production on a given date, and who put it there".
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlvc.errors import MlvcError
from mlvc.ids import ObjectId, from_hex
from mlvc.store.fsutil import atomic_write, fsync_dir, pid_alive

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class TagError(MlvcError):
    pass


@dataclass(frozen=True)
class TagMove:
    time: str
    user: str
    old: ObjectId | None
    new: ObjectId | None  # None: the tag was deleted
    message: str


def check_tag_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name in ("latest",) or name.endswith(".lock"):
        raise TagError(
            f"'{name}' is not a valid tag name",
            hint="use letters, digits, '.', '_' and '-' (not 'latest', which means the newest run)",
        )
    return name


class Tags:
    def __init__(self, mlvc_dir: Path) -> None:
        self.refs = mlvc_dir / "refs" / "tags"
        self.logs = mlvc_dir / "logs" / "tags"

    def get(self, name: str) -> ObjectId | None:
        try:
            text = (self.refs / name).read_text().strip()
        except (FileNotFoundError, IsADirectoryError):
            return None
        return from_hex(text)

    def names(self) -> list[str]:
        if not self.refs.is_dir():
            return []
        return sorted(p.name for p in self.refs.iterdir() if not p.name.endswith(".lock"))

    def move(
        self,
        name: str,
        new: ObjectId | None,
        expected: ObjectId | None,
        who: str,
        when: str,
        message: str = "",
    ) -> TagMove:
        """Point `name` at `new` (None deletes it) if it still points at `expected`."""
        check_tag_name(name)
        self.refs.mkdir(parents=True, exist_ok=True)
        lock = self.refs / f"{name}.lock"
        _take(lock, name)
        try:
            current = self.get(name)
            if current != expected:
                raise TagError(f"tag {name} moved while this command ran", hint="try again")
            if new is None:
                (self.refs / name).unlink()
                fsync_dir(self.refs)
            else:
                atomic_write(self.refs / name, (new.hex() + "\n").encode())
            move = TagMove(when, who, current, new, message)
            self._log(name, move)
        finally:
            lock.unlink(missing_ok=True)
        return move

    def _log(self, name: str, move: TagMove) -> None:
        self._append(name, [move])

    def _append(self, name: str, moves: list[TagMove]) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        lines = "".join(tag_move_json(move) + "\n" for move in moves)
        with open(self.logs / name, "a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())

    def history(self, name: str) -> list[TagMove]:
        try:
            lines = (self.logs / name).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        # A torn last line (a crash mid-append) is skipped.
        return [move for line in lines if (move := tag_move_from_json(line)) is not None]

    def adopt(
        self, name: str, new: ObjectId, expected: ObjectId | None, moves: list[TagMove]
    ) -> None:
        """Point `name` at `new` (if it still points at `expected`) as another store's
        tag did, and add that store's `moves` not yet in this tag's history: `fetch`."""
        check_tag_name(name)
        self.refs.mkdir(parents=True, exist_ok=True)
        lock = self.refs / f"{name}.lock"
        _take(lock, name)
        try:
            if self.get(name) != expected:
                raise TagError(f"tag {name} moved while this command ran", hint="try again")
            atomic_write(self.refs / name, (new.hex() + "\n").encode())
            known = set(self.history(name))
            self._append(name, [m for m in moves if m not in known])
        finally:
            lock.unlink(missing_ok=True)

    def pointing_at(self) -> dict[bytes, list[str]]:
        found: dict[bytes, list[str]] = {}
        for name in self.names():
            oid = self.get(name)
            if oid is not None:
                found.setdefault(oid, []).append(name)
        return found


def tag_move_json(move: TagMove) -> str:
    """A move as one JSON object, keys sorted: a line of a tag log, or a remote's
    history file."""
    return json.dumps(
        {
            "time": move.time,
            "user": move.user,
            "old": move.old.hex() if move.old else None,
            "new": move.new.hex() if move.new else None,
            "message": move.message,
        },
        sort_keys=True,
    )


def tag_move_from_json(text: str | bytes) -> TagMove | None:
    """A move from its JSON, or None when it is not one."""
    try:
        raw: dict[str, Any] = json.loads(text)
        move = TagMove(
            raw["time"],
            raw["user"],
            from_hex(raw["old"]) if raw["old"] else None,
            from_hex(raw["new"]) if raw["new"] else None,
            raw.get("message", ""),
        )
    except (ValueError, KeyError, TypeError, AttributeError, MlvcError):
        return None
    if not all(isinstance(v, str) for v in (move.time, move.user, move.message)):
        return None
    return move


STALE_EMPTY_LOCK_SECONDS = 60  # a lock without a pid: its writer died between two calls


def _take(lock: Path, name: str) -> None:
    """Create `lock` (O_EXCL) holding this process's pid. A lock whose process is gone (a
    killed `mlvc tag`), or an empty one older than a minute, is stale: removed, and taken
    again once."""
    for attempt in range(2):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if attempt == 0 and _stale(lock):
                lock.unlink(missing_ok=True)
                continue
            raise TagError(
                f"tag {name} is being moved by another command ({lock} exists)",
                hint=f"try again; if no mlvc command is running, remove {lock}",
            ) from None
        try:
            os.write(fd, f"{os.getpid()}\n".encode())
        finally:
            os.close(fd)
        return


def _stale(lock: Path) -> bool:
    try:
        text = lock.read_text(errors="replace").strip()
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return True  # released meanwhile
    except OSError:
        return False
    if text.isdigit():
        return not pid_alive(int(text))
    return age > STALE_EMPTY_LOCK_SECONDS
