"""`mlvc checkout RUN`: put the workspace back as a run left it (or as it found it).

Nothing is lost: before a file is overwritten or deleted, its content must already be in
the store, or it is stored first and recorded as a snapshot run (listed in the result),
unless `force`. Order: plan, save what is in the way (durable, recorded), write files
(each atomically), then one index transaction for the stat cache and tracked paths.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlvc import clock
from mlvc.errors import MlvcError
from mlvc.heap import paused_collector
from mlvc.ids import ObjectId, short
from mlvc.lineage.resolve import load_run
from mlvc.objects import Run
from mlvc.recorder import IndexRows, record
from mlvc.repo import Repo
from mlvc.store.index import TrackedFile
from mlvc.store.rowdiff import InPathOrder, by_path
from mlvc.workspace.batches import first_slice
from mlvc.workspace.dirs import WorkspaceDirs
from mlvc.workspace.ignore import Ignore
from mlvc.workspace.intake import Intake
from mlvc.workspace.lock import workspace_lock
from mlvc.workspace.materialize import Materializer
from mlvc.workspace.plan import FileChange, Plan, Planner, recorded_state
from mlvc.workspace.records import Expected, RecordedFile, WrittenFile
from mlvc.workspace.scan import FileStat, stat_of, walk

Progress = Callable[[int], None]

if TYPE_CHECKING:
    from mlvc.porcelain.fetch import Meter
    from mlvc.porcelain.pull import SessionAhead


class CheckoutStoppedError(MlvcError):
    """The write phase failed part way (a full disk, an unwritable directory)."""


@dataclass(frozen=True)
class Saved:
    path: str
    kind: str
    id: ObjectId | None  # None in a dry run: not stored yet
    size: int


@dataclass(frozen=True)
class CheckoutResult:
    run_id: ObjectId
    changes: tuple[FileChange, ...]
    saved: tuple[Saved, ...]
    saved_run: ObjectId | None
    unchanged: int
    dry_run: bool
    kept: tuple[str, ...] = ()  # changed while the checkout ran, twice: left as they are
    saved_runs: tuple[ObjectId, ...] = ()  # every snapshot it recorded (saved_run first)
    code: dict[str, Any] | None = None  # with `code`: the commit, and whether a patch applied


@dataclass(frozen=True)
class CheckoutRequest:
    run_id: ObjectId
    paths: tuple[str, ...] = ()
    inputs: bool = False
    force: bool = False
    clean: bool = False
    dry_run: bool = False
    owner: Mapping[str, Any] = field(default_factory=dict)
    follow_symlinks: bool = False  # write through symlinked directories (opt-in)
    code: bool = False  # also the recorded commit (detached) and patch, first
    env: Mapping[str, str] = field(default_factory=dict)  # for git, with `code`


@paused_collector()
def checkout(
    repo: Repo,
    request: CheckoutRequest,
    progress: Progress | None = None,
    total: Progress | None = None,
    pulling: Meter | None = None,
) -> CheckoutResult:
    """`progress(n)` as n more bytes are written; `total(n)` once, with the bytes to write;
    `pulling`: the progress of taking data from the default remote, when some is there."""
    run = load_run(repo, request.run_id)
    wants, dirs, removed = recorded_state(repo, run, request.inputs, request.paths)
    ahead = None if request.dry_run else _remote_ahead(repo, wants)
    with workspace_lock(repo.dir), repo.store.lookups():
        code = _code(repo, run, request) if request.code else None
        ignore = Ignore.load(repo.root)
        planner = _planned(repo, request, ignore, wants, dirs, removed)
        plan = planner.plan
        unsaved = [] if request.force else _unsaved(repo, planner)
        if request.dry_run:
            saved = tuple(Saved(st.rel, st.kind, None, st.size) for st in unsaved)
            return _result(request, plan, saved, (), dry_run=True, code=code)
        if plan.writes:
            from mlvc.porcelain.pull import ensure_local  # remotes: only when data is missing

            if ahead is None:  # all here, by its first file: places looked up once, for both
                repo.store.prefetch(first_slice(plan.writes))
            ensure_local(repo, [w.id for w in plan.writes], pulling, ahead=ahead)
        expected = Expected(plan.doomed)
        writer = Materializer(
            repo.store,
            repo.root,
            repo.dir / "tmp" / "checkout",
            follow_symlinks=request.follow_symlinks,
            expected=expected,
        )
        writer.prepare()
        try:  # what is saved is read through the very descriptors the writes go through
            saved, saved_run = _save(repo, request, unsaved, ignore, writer.dirs)
            if total is not None:
                total(sum(max(want.size, 0) for want in plan.writes))
            applied = _Applied(repo, request, ignore, writer, expected)
            applied.run(plan, progress, saved_run)
        finally:
            writer.cleanup()
        _remember(repo, run, request, wants, removed, plan, applied.wrote, applied.landed)
        return _result(
            request,
            plan,
            saved + applied.saved,
            (saved_run, *applied.runs),
            dry_run=False,
            kept=tuple(applied.kept),
            code=code,
        )


def _planned(
    repo: Repo,
    request: CheckoutRequest,
    ignore: Ignore,
    wants: Mapping[str, RecordedFile],
    dirs: set[str],
    removed: list[str],
) -> Planner:
    """What to write and remove: the recorded files, the paths the run deleted, and with
    `clean` whatever else is in the recorded directories."""
    planner = Planner(repo, ignore, request.force, request.follow_symlinks)
    for path in sorted(wants):
        planner.want(wants[path])
    extra = list(removed)
    if request.clean:
        for d in sorted(dirs):
            extra += [st.rel for st in walk(repo.root, d, ignore) if st.rel not in wants]
    for path in extra:
        planner.remove(path)
    return planner


def _remote_ahead(repo: Repo, wants: Mapping[str, RecordedFile]) -> SessionAhead | None:
    """Open the default remote while the checkout plans, when the data of the first file
    to restore is not in this store (a fresh clone): one look at the index, no import
    of the remote modules otherwise."""
    if not repo.config.remotes:
        return None
    first = next((w for w in wants.values() if w.kind == "file"), None)
    if first is None or repo.index.has(first.id):
        return None
    from mlvc.porcelain.pull import SessionAhead

    return SessionAhead(repo)


def _result(
    request: CheckoutRequest,
    plan: Plan,
    saved: tuple[Saved, ...],
    saved_runs: tuple[ObjectId | None, ...],
    dry_run: bool,
    kept: tuple[str, ...] = (),
    code: dict[str, Any] | None = None,
) -> CheckoutResult:
    changes = tuple(sorted((c for c in plan.changes if c.path not in kept), key=_by_path))
    runs = tuple(r for r in saved_runs if r is not None)
    return CheckoutResult(
        request.run_id,
        changes,
        saved,
        runs[0] if runs else None,
        len(plan.unchanged),
        dry_run,
        kept=kept,
        saved_runs=runs,
        code=code,
    )


def _code(repo: Repo, run: Run, request: CheckoutRequest) -> dict[str, Any]:
    """The recorded commit, detached, and the recorded patch (or, in a dry run, what they
    would be): under the workspace lock, before any file is planned."""
    from mlvc.workspace.gitcode import checkout_code, guarded_paths, recorded_commit

    if request.dry_run:
        return {"commit": recorded_commit(run.code), "patch": run.code.get("patch") is not None}
    what = f"run {short(request.run_id)}"
    return checkout_code(repo.root, run.code, repo.store, request.env, what, guarded_paths(run))


def _by_path(change: FileChange) -> str:
    return change.path


def _unsaved(repo: Repo, planner: Planner) -> list[FileStat]:
    """The files about to be overwritten or deleted whose content the store lacks."""
    doomed = planner.plan.doomed
    ids = {rel: planner.current_id(st) for rel, st in doomed.items()}
    absent = repo.index.missing([oid for oid in ids.values() if oid is not None])
    return [doomed[rel] for rel, oid in sorted(ids.items()) if oid is None or oid in absent]


def _save(
    repo: Repo,
    request: CheckoutRequest,
    unsaved: list[FileStat],
    ignore: Ignore,
    dirs: WorkspaceDirs,
    why: str = "before overwriting",
) -> tuple[tuple[Saved, ...], ObjectId | None]:
    """Store the files the checkout would lose and record them as one snapshot run,
    read through `dirs`: never from outside the workspace, whatever is swapped in."""
    if not unsaved:
        return (), None
    started = clock.now()
    snap = Intake(repo.root, repo.store, ignore, {}, dirs=dirs)
    try:
        outputs = {st.rel: snap.snapshot(st.rel, st.rel) for st in unsaved}
    except BaseException:
        repo.store.abort()
        raise
    run = Run(
        kind="snapshot",
        started=started,
        ended=clock.now(),
        status="ok",
        command=("mlvc", "checkout", request.run_id.hex()),
        outputs=outputs,
        owner=dict(request.owner),
        message=f"saved by mlvc checkout {short(request.run_id)} {why}",
    )
    run_id = record(repo, run, IndexRows())
    saved = tuple(Saved(p, r.kind, r.id, r.size) for p, r in outputs.items())
    return saved, run_id


class _Applied:
    """The write phase: removals, writes and modes, and the files found changed since
    the plan (an edit made while the checkout ran): those are stored as a second
    snapshot and replaced, or kept as they are if they change yet again."""

    def __init__(
        self,
        repo: Repo,
        request: CheckoutRequest,
        ignore: Ignore,
        writer: Materializer,
        expected: dict[str, FileStat | None],
    ) -> None:
        """`expected`: the state each target was planned against, shared with `writer`
        (a file stored after it changed is expected as stored when written again)."""
        self.repo = repo
        self.request = request
        self.ignore = ignore
        self.writer = writer
        self.expected = expected
        # Two lists, not a list of pairs: a pair costs 72 bytes, a million files 70 MiB.
        self.wrote: list[RecordedFile] = []
        self.landed: list[WrittenFile] = []
        self.saved: tuple[Saved, ...] = ()
        self.runs: list[ObjectId] = []
        self.kept: list[str] = []

    def run(self, plan: Plan, progress: Progress | None, saved_run: ObjectId | None) -> None:
        try:
            self._apply(plan, progress)
        except (MlvcError, OSError) as exc:
            raise self._stopped(exc, saved_run) from None

    def _apply(self, plan: Plan, progress: Progress | None) -> None:
        writer = self.writer
        changed = [p for p in plan.removals if not writer.remove(p)]
        if changed:
            self._store_changed(changed)
            self.kept += [p for p in changed if not writer.remove(p)]
        landed = writer.write_many(plan.writes, progress)
        retry = [w for w, st in zip(plan.writes, landed, strict=True) if st is None]
        self._landed(plan.writes, landed)
        if retry:
            self._store_changed([w.path for w in retry])
            landed = writer.write_many(retry)
            self._landed(retry, landed)
            self.kept += [w.path for w, st in zip(retry, landed, strict=True) if st is None]
        kept = set(self.kept)
        modes = [want for want in plan.modes if want.path not in kept]
        self._landed(modes, [writer.set_mode(want.path, want.executable) for want in modes])

    def _landed(self, wants: list[RecordedFile], landed: list[WrittenFile | None]) -> None:
        for want, st in zip(wants, landed, strict=True):
            if st is not None:
                self.wrote.append(want)
                self.landed.append(st)

    def _store_changed(self, paths: list[str]) -> None:
        """Store what the files hold now, and expect exactly that state next time."""
        expected = self.expected
        dirs = self.writer.dirs
        stats = []
        for rel in paths:
            try:
                st = stat_of(rel, dirs.lstat(rel))
            except FileNotFoundError:
                expected[rel] = None
                continue
            stats.append(st)
            expected[rel] = st
        saved, run_id = _save(
            self.repo, self.request, stats, self.ignore, dirs, "after they changed during it"
        )
        self.saved += saved
        if run_id is not None:
            self.runs.append(run_id)

    def _stopped(self, exc: MlvcError | OSError, saved_run: ObjectId | None) -> MlvcError:
        name = short(self.request.run_id)
        what = exc.message if isinstance(exc, MlvcError) else f"{exc.strerror}: {exc.filename}"
        saved = ""
        if saved_run is not None:
            saved = f"; what it replaced was stored first (snapshot {short(saved_run)})"
        return CheckoutStoppedError(
            f"checkout of {name} stopped part way: {what}",
            hint=f"the workspace is partly switched{saved}; fix the"
            f" cause, then run 'mlvc checkout {name}' again to finish (files already"
            " right are skipped)",
        )


def _remember(
    repo: Repo,
    run: Run,
    request: CheckoutRequest,
    wants: dict[str, RecordedFile],
    removed: list[str],
    plan: Plan,
    wrote: list[RecordedFile],
    landed: list[WrittenFile],
) -> None:
    """Stat-cache rows for what was written (the next status reads nothing), and the
    restored paths as the tracked state. Rows are stamped after the last write: a file
    changed again within the racy window is hashed by the next status, as usual."""
    hashed_ns = time.time_ns()
    # In path order, each row made as the index takes it: only the order is held (a
    # million rows held at once took 150 MiB). A path hashed by the plan and then
    # written gets the row of the write (merge keeps the order of equal keys).
    paths = [w.path for w in wrote]
    order: Iterable[int] = range(len(wrote))
    if not all(map(str.__lt__, paths, paths[1:])):  # usually in order already
        order = sorted(order, key=paths.__getitem__)
    rows: Iterable[tuple[Any, ...]] = (
        (paths[i], st.st_size, st.st_mtime_ns, st.st_ino, wrote[i].id, hashed_ns, st.st_ctime_ns)
        for i in order
        for st in (landed[i],)
    )
    if plan.hashed:
        hashed = ((path, *row) for path, row in sorted(plan.hashed, key=by_path))
        rows = heapq.merge(hashed, rows, key=by_path)
    index = repo.index
    roots: dict[str, list[TrackedFile]] = {}
    for want in wants.values():
        roots.setdefault(want.root, []).append(
            TrackedFile(want.path, want.root, want.id, want.kind, want.size)
        )
    # Outputs become tracked, as `mlvc run` makes them; inputs only if they already are
    # (a params file read by the run is git's to track, not ours).
    roots = {r: f for r, f in roots.items() if r in run.outputs or index.is_tracked(r)}
    with index.transaction():
        index.put_stat_values(InPathOrder(rows))
        for root, files in roots.items():
            if request.paths and root not in request.paths:
                for f in files:  # part of a recorded directory: only these files move
                    index.replace_tracked(f.path, [f])
            else:
                index.replace_tracked(root, files)
        for path in removed:
            index.replace_tracked(path, [])
