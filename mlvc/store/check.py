"""What `mlvc fsck` checks in a store: the packs against the index, every object's bytes
(`full`), every reference from runs, trees and manifests, the run log and the index
database itself. Each finding is a `Problem` naming the object, its kind and the file.

Nothing here changes the store; `porcelain/fsck.py` decides what to repair.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlvc.errors import MlvcError, NewerFormatError
from mlvc.ids import Kind, ObjectId
from mlvc.objects import Run
from mlvc.store import purged, runlog, verify
from mlvc.store.entry import Entry
from mlvc.store.fsutil import pid_alive
from mlvc.store.index import Index
from mlvc.store.pack import read_table
from mlvc.store.reach import closure

Progress = Callable[[int], None]
_NOTES = frozenset(
    {"orphan-objects", "remote-only", "no-run-log", "temp-file", "run-log-line", "purged"}
)


@dataclass(frozen=True)
class Problem:
    kind: str  # what is wrong: "corrupt-object", "missing-object", "damaged-pack", ...
    detail: str  # one line for people
    id: str | None = None  # the object's id (hex), when one is concerned
    object: str | None = None  # its kind: chunk, manifest, tree, run...
    file: str | None = None  # the file, relative to .mlvc

    @property
    def serious(self) -> bool:
        """False for notes: leftovers and states that lose nothing."""
        return self.kind not in _NOTES


def sealed_packs(packs: Path) -> list[Path]:
    return sorted(p for p in packs.glob("*.pack") if not p.name.startswith("tmp-"))


def stale_temporary(packs: Path) -> list[Path]:
    """Temporary packs whose writer is gone (`tmp-<pid>-...`)."""
    found = []
    for path in sorted(packs.glob("tmp-*")):
        pid = path.name.split("-")[1] if path.name.count("-") >= 2 else ""
        if not pid.isdigit() or not pid_alive(int(pid)):
            found.append(path)
    return found


def check_index_file(db: sqlite3.Connection) -> list[Problem]:
    try:
        rows = [r[0] for r in db.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        rows = [str(exc)]
    if rows == ["ok"]:
        return []
    return [Problem("damaged-index", f"index.db: {rows[0]}", file="index.db")]


def check_packs(
    packs: Path, index: Index, full: bool, progress: Progress | None = None
) -> tuple[list[Problem], dict[str, list[Entry]]]:
    """Every sealed pack's trailer, its rows in the index, and with `full` every entry's
    bytes. Returns the problems and the readable packs' entries."""
    problems = [
        Problem("temp-file", "a temporary pack its writer left (killed)", file=f"packs/{p.name}")
        for p in stale_temporary(packs)
    ]
    damaged, tables = read_tables(packs)
    problems += damaged
    indexed = index.entries_by_pack()
    for name, rows in indexed.items():
        where = f"packs/{name}.pack"
        if name not in tables:
            if (packs / f"{name}.pack").exists():
                continue  # damaged: reported above
            problems.append(
                Problem("missing-pack", f"{len(rows)} indexed object(s) are in it", file=where)
            )
            continue
        table = {e.id: e for e in tables[name]}
        for e in rows:
            if table.get(e.id) != e:
                problems.append(_about("index-mismatch", e, where, "the index disagrees"))
    located = {e.id for rows in indexed.values() for e in rows}
    orphans = {n: [e for e in es if e.id not in located] for n, es in tables.items()}
    for name, entries in orphans.items():
        if entries:
            size = sum(e.stored_len for e in entries)
            problems.append(
                Problem(
                    "orphan-objects",
                    f"{len(entries)} object(s), {size} bytes, no index row names",
                    file=f"packs/{name}.pack",
                )
            )
    if full:
        problems += check_bytes(packs, tables, progress)
    return problems, tables


def read_tables(packs: Path) -> tuple[list[Problem], dict[str, list[Entry]]]:
    """Every sealed pack's entries, from its trailer; a damaged trailer is a problem."""
    problems = []
    tables: dict[str, list[Entry]] = {}
    for path in sealed_packs(packs):
        try:
            tables[path.stem] = read_table(path)
        except NewerFormatError:
            raise  # not damage: a later mlvc's pack, to be left as it is
        except MlvcError as exc:
            problems.append(Problem("damaged-pack", exc.message, file=f"packs/{path.name}"))
    return problems, tables


def _about(kind: str, e: Entry, file: str, detail: str) -> Problem:
    return Problem(kind, detail, e.id.hex(), e.kind.label, file)


def check_bytes(
    packs: Path, tables: dict[str, list[Entry]], progress: Progress | None
) -> list[Problem]:
    """Every entry read and verified against its id (and schema, for metadata)."""
    problems = []
    for name, entries in tables.items():
        where = f"packs/{name}.pack"
        with open(packs / f"{name}.pack", "rb") as handle:
            for e in sorted(entries, key=lambda e: e.offset):
                handle.seek(e.offset)
                stored = handle.read(e.stored_len)
                try:
                    raw = verify.unpack(e, stored, f"pack {name[:12]}", "")
                    verify.check_id(e.id, e.kind, raw, f"pack {name[:12]}", "")
                    verify.check_schema(e.id, e.kind, raw, f"pack {name[:12]}")
                except MlvcError as exc:
                    problems.append(_about("corrupt-object", e, where, exc.message))
                if progress is not None:
                    progress(e.stored_len)
    return problems


def required(run: Run) -> Iterator[ObjectId]:
    """The objects a run cannot do without: what it read and wrote, its logs, its patch."""
    for record in (*run.inputs.values(), *run.outputs.values()):
        yield record.id
    for key in ("stdout", "stderr"):
        if isinstance(run.logs.get(key), bytes):
            yield ObjectId(run.logs[key])
    if isinstance(run.code.get("patch"), bytes):
        yield ObjectId(run.code["patch"])


def check_references(
    index: Index, read: Callable[[bytes], bytes], has_remote: bool
) -> tuple[list[Problem], set[ObjectId]]:
    """Every run in the index loads, and every object its inputs, outputs, logs and
    patch reach (through trees and manifests) is in the store. Missing file data of a
    fetched run is a note when a remote may hold it. Returns the problems and the ids
    found missing."""
    problems: list[Problem] = []
    roots: list[bytes] = []
    for oid in index.history.run_ids(ok_only=False):
        try:
            run = Run.decode(read(oid), f"run {oid.hex()}")
        except MlvcError as exc:
            problems.append(Problem("damaged-run", exc.message, oid.hex(), "run"))
            continue
        roots += list(required(run))

    def kinds_of(oids: list[bytes]) -> dict[bytes, Kind]:
        return {oid: loc.entry.kind for oid, loc in index.locate_many(oids).items()}

    def read_safely(oid: bytes) -> bytes | None:
        try:
            data = read(oid)
            loc = index.locate(oid)
            if loc is not None:
                verify.check_schema(ObjectId(oid), loc.entry.kind, data, f"pack {loc.pack[:12]}")
            return data
        except MlvcError as exc:
            problems.append(Problem("corrupt-object", exc.message, oid.hex()))
            return None

    _, unknown = closure(roots, kinds_of, read_safely)
    gone = purged.read(index.path.parent)
    problems += [
        Problem("purged", f"purged on {gone[o.hex()].time[:10]}", o.hex())
        for o in sorted(unknown)
        if o.hex() in gone
    ]
    unknown = {o for o in unknown if o.hex() not in gone}
    if unknown:
        kind = "remote-only" if has_remote else "missing-object"
        detail = (
            "not in this store: a fetched run's data (pull takes it)"
            if has_remote
            else "referenced by a run but in no pack"
        )
        problems += [Problem(kind, detail, oid.hex()) for oid in sorted(unknown)]
    return problems, unknown


def check_purged(mlvc_dir: Path) -> list[Problem]:
    return [
        Problem("purged-line", f"line {n} is damaged", file=purged.NAME)
        for n in purged.parse(mlvc_dir)[1]
    ]


def check_run_log(path: Path, index: Index) -> list[Problem]:
    contents = runlog.read(path)
    if contents is None:
        return [Problem("no-run-log", "an older store: the next commit writes it", file=path.name)]
    problems = [
        Problem("run-log-line", f"line {n} is damaged (a torn write?)", file=path.name)
        for n in contents.damaged
    ]
    indexed = set(index.history.run_ids(ok_only=False))
    for oid in contents.runs:
        if oid not in indexed:
            problems.append(
                Problem("unindexed-run", "committed but not in the index", oid.hex(), "run")
            )
    for oid in sorted(indexed - set(contents.runs)):  # its line was damaged or lost
        problems.append(
            Problem(
                "unlogged-run",
                "indexed but not in runs.log (a rebuild would drop it)",
                oid.hex(),
                "run",
            )
        )
    return problems
