"""`mlvc run -- CMD`: execute a command, capture everything it touched, record a run."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlvc import clock, secrets
from mlvc.capture import changes, process, tracer
from mlvc.capture.request import RunRequest
from mlvc.capture.spool import Spool, overlapping, writes_of_others
from mlvc.ids import ObjectId
from mlvc.paths import check_text
from mlvc.repo import Repo
from mlvc.workspace.ignore import Ignore
from mlvc.workspace.scan import FileStat

if TYPE_CHECKING:
    from mlvc.capture.inotify import Seen
    from mlvc.capture.runinfo import RunCapture
    from mlvc.capture.touched import TouchedPaths
    from mlvc.git import StartedGit
    from mlvc.objects import PathRecord, Run
    from mlvc.recorder import IndexRows
    from mlvc.store.index import FileRow
    from mlvc.workspace.intake import Intake

# Start-up time is run overhead: only what is needed to start the command is imported
# up front; capture and recording modules load, and the facts no command changes are
# taken, on a thread while the command runs.


@dataclass(frozen=True)
class RunResult:
    run_id: ObjectId
    status: str
    exit_code: int
    inputs: int
    outputs: int
    wall_seconds: float
    skipped: tuple[str, ...] = ()
    """Paths the run created, read or wrote that no tree can hold, so left unrecorded
    (sorted; a directory ends with `/`; see mlvc.paths)."""
    warnings: tuple[str, ...] = ()
    """What the capture mode could not see, or saw mixed with another run's reads."""


def run(repo: Repo, request: RunRequest) -> RunResult:
    """Execute the request's command and record it (also when it fails or is interrupted)."""
    from mlvc.capture.observer import Observer
    from mlvc.capture.owner import IDENTITY
    from mlvc.git import start_git

    # The owner's git call runs meanwhile (its names are read on the loading thread).
    identity = start_git(IDENTITY, repo.root, request.env)
    try:
        session = Session.begin(repo, request, capture_code=False)
    except BaseException:
        identity.result()
        raise
    session.identity = identity
    watch: Observer | None = None
    try:
        requested = request.trace or repo.config.run.trace
        watch = Observer(requested, repo.root, session.ignore, session.spool, request.cwd)
        argv = watch.command(request.argv)
        # The capture modules load on a thread while the command starts and runs, which
        # hides their import time inside the command's own. The code (git reads the
        # sources, which the command does not normally rewrite) is taken on that thread
        # too, except under inotify: git's reads of the workspace would count as the
        # command's, so it runs here first, with only git and the store loaded.
        quiet = watch.quiet_workspace
        if quiet:
            session.capture_code()
        preparing = threading.Thread(target=session.load if quiet else session.prepare)
        preparing.start()
        env = tracer.child_environment(request.env, session.spool)
        known = secrets.known_values(request.env, session.redacted.values, session.rules)
        try:
            watch.start(session.before)
            try:
                finished = process.execute(
                    argv, request.cwd, env, session.logs, request.terminal, known, watch.wraps
                )
            finally:
                session.command_ended.set()
                removed = session.spooled.restore()  # the run still records there
                seen = watch.stop()
                if removed:
                    seen.notes.append(SPOOL_REMOVED)
        finally:
            preparing.join()
        return session.conclude(finished, seen)
    finally:
        session.close()
        identity.result()  # waited for already, unless the command never started
        if watch is not None:
            watch.close()


SPOOL_REMOVED = (
    "the command removed mlvc's spool directory (.mlvc/tmp/run-*): its output was not"
    " logged, and some of its reads may be missing (declare them with -i)"
)


@dataclass
class Session:
    """One run between its two scans: `begin` before the command, `conclude` after.
    `mlvc run` wraps a child process in it; `mlvc.start_run` wraps a block of code."""

    repo: Repo
    request: RunRequest
    spooled: Spool
    ignore: Ignore
    before: dict[str, FileStat]
    started: str
    started_ns: int
    facts: RunCapture | None = None
    prepare_error: BaseException | None = None
    code: dict[str, Any] | None = None
    skipped_before: frozenset[str] = frozenset()
    command_ended: threading.Event = field(default_factory=threading.Event)
    identity: StartedGit | None = None  # the owner's git call, when started early

    def prepare(self) -> None:
        """Load the capture modules and record the code (git commit and patch)."""
        self.load()
        self.capture_code()

    def load(self) -> None:
        """Load the capture modules and describe the machine (they read no workspace file)."""
        try:
            from mlvc.capture.runinfo import RunCapture

            self.facts = RunCapture(self.repo, self.request.env)
            self.facts.describe_machine(self.identity)
            _preload(self.before, self.command_ended)
        except BaseException as exc:  # re-raised on the main thread by conclude()
            self.prepare_error = exc

    def capture_code(self) -> None:
        from mlvc.capture import code

        self.code = code.capture(self.repo, self.request.env, self.rules)

    @classmethod
    def begin(cls, repo: Repo, request: RunRequest, capture_code: bool = True) -> Session:
        _check_text(request)
        spool = Spool.create(repo.dir / "tmp")
        started_ns = time.time_ns()
        try:
            ignore = Ignore.load(repo.root, secrets.patterns(*repo.config.secrets))
            skipped: list[str] = []
            before = changes.scan(repo.root, ignore, skipped)
        except BaseException:
            spool.finish()
            raise
        session = cls(repo, request, spool, ignore, before, clock.now(), started_ns)
        session.skipped_before = frozenset(skipped)
        if capture_code:
            session.prepare()  # before the code runs: the code that ran, not what it left
        return session

    @property
    def rules(self) -> secrets.Patterns:
        return secrets.patterns(*self.repo.config.secrets)

    @property
    def redacted(self) -> secrets.RedactedArgv:
        """The command as recorded: the secret values of its options replaced."""
        return secrets.redact_argv(self.request.argv, self.rules)

    @property
    def spool(self) -> Path:
        return self.spooled.path

    @property
    def logs(self) -> tuple[Path, Path]:
        return (self.spool / "stdout.log", self.spool / "stderr.log")

    def close(self) -> None:
        self.spooled.finish()

    def conclude(self, finished: process.Finished, seen: Seen | None = None) -> RunResult:
        """Record the run; `seen` is what the capture mode saw (None: the Python tracer
        alone, as for a block of code recorded by `mlvc.start_run`)."""
        from mlvc.capture.inotify import Seen
        from mlvc.capture.touched import TouchedPaths
        from mlvc.recorder import record
        from mlvc.workspace.intake import Intake

        if self.prepare_error is not None:
            raise self.prepare_error
        assert self.facts is not None and self.code is not None
        self.facts.sections["code"] = self.code
        repo, request = self.repo, self.request
        ended = clock.now()
        for log in self.logs:
            log.touch()
        skipped: list[str] = []
        after = changes.scan(repo.root, self.ignore, skipped)
        trace = tracer.read_spool(self.spool)
        seen = seen or Seen("python")
        tmp = repo.dir / "tmp"
        others = writes_of_others(tmp, self.spool, self.started_ns)
        paths = TouchedPaths(repo, request, trace, self.before, after, others, seen)
        paths.note_capture(overlapping(tmp, self.spool, self.started_ns))
        paths.inputs -= self.facts.withhold(paths.inputs)
        cache = repo.index.stat_rows() if request.track else {}  # rows describe the user's files
        snap = Intake(repo.root, repo.store, self.ignore, cache)
        try:
            outputs = _snapshots(snap, sorted(paths.output_roots()))
            out_files = {f.path for f in snap.files}
            inputs = _inputs(repo, snap, paths, self.before, after)
            self.facts.capture_after(trace, finished, self.logs, paths, snap)
        except BaseException:
            repo.store.abort()
            raise
        run = self._run(finished, ended, inputs, outputs, paths, snap)
        run_id = record(repo, run, _index_rows(snap, out_files, paths.removed, request.track))
        new_skipped = set(skipped) - self.skipped_before  # what this run left, not old news
        return RunResult(
            run_id,
            finished.status,
            finished.exit_code,
            len(inputs),
            len(outputs),
            finished.wall_seconds,
            tuple(sorted(new_skipped | paths.skipped | set(snap.skipped))),
            tuple(paths.capture["notes"]),
        )

    def _run(
        self,
        finished: process.Finished,
        ended: str,
        inputs: dict[str, PathRecord],
        outputs: dict[str, PathRecord],
        paths: TouchedPaths,
        snap: Intake,
    ) -> Run:
        """The run object of what was captured."""
        from mlvc.capture.runinfo import describe
        from mlvc.objects import Run

        assert self.facts is not None
        request = self.request
        return Run(
            kind="run",
            started=self.started,
            ended=ended,
            status=finished.status,
            command=tuple(self.redacted.argv),
            cwd=self.repo.relpath(request.cwd, self.repo.root) or ".",
            exit_code=finished.exit_code,
            inputs=inputs,
            outputs=outputs,
            removed=tuple(sorted(paths.removed)),
            external=paths.external(),
            message=request.message,
            tags=request.tags,
            reproduces=request.reproduces,
            **snap.note_unsteady(describe(self.facts, request, paths, outputs)),
        )


def _preload(before: dict[str, FileStat], command_ended: threading.Event) -> None:
    """Import, while the command runs, what recording it will need (the recorder, the
    sorting of touched paths) and, while it still runs, what it will likely need: the
    chunker (an output over 16 KiB is cut into chunks) and, in a workspace holding YAML
    files (params), the YAML parser. Each costs 5-30 ms of a run otherwise; once the
    command has ended, a guess would only add to the run's time: they load on use."""
    import mlvc.capture.touched
    import mlvc.recorder  # noqa: F401

    if command_ended.is_set():
        return
    import pyfastcdc.cy  # noqa: F401

    if not command_ended.is_set() and any(rel.endswith((".yaml", ".yml")) for rel in before):
        import yaml  # noqa: F401


def _index_rows(snap: Intake, out_files: set[str], removed: set[str], track: bool) -> IndexRows:
    """The index rows of the run's outputs: path versions of the files inside them, and
    (in the user's workspace, `track`) the tracked state and stat-cache rows."""
    from mlvc.recorder import IndexRows

    rows = IndexRows(stat_rows=snap.new_stats if track else [])
    files: dict[str, list[FileRow]] = {}
    for f in snap.files:
        if f.path in out_files:
            rows.tracked.setdefault(f.root, []).append(f)
            files.setdefault(f.root, []).append((f.path, f.id, f.kind, f.size))
    rows.files.update(files)
    for rel in removed:
        rows.tracked.setdefault(rel, [])
    if not track:
        rows.tracked = {}
    return rows


def _check_text(request: RunRequest) -> None:
    """Refuse, before anything runs, what a run record cannot hold as UTF-8 text, and
    a run of no command (rerun or reproduce of a crafted run)."""
    if not request.argv:
        raise process.CommandNotFoundError(
            "no command to run", hint="the run records none: it was damaged or crafted"
        )
    for i, arg in enumerate(request.argv):
        check_text(arg, f"argument {i} of the command")
    check_text(request.message, "the message")
    check_text(str(request.cwd), "the working directory")
    if not request.tags:
        return
    from mlvc.store.refs import check_tag_name

    for tag in request.tags:
        check_text(tag, "the tag")
        check_tag_name(tag)  # refused before the command runs: the run will be tagged


def _snapshots(snap: Intake, rels: list[str]) -> dict[str, PathRecord]:
    """Each path stored; one removed since the scan (another process's temporary file,
    say) is left out: what the run left is what is still there."""
    from mlvc.errors import FileVanishedError

    found = {}
    for rel in rels:
        try:
            found[rel] = snap.snapshot(rel, rel)
        except FileVanishedError:
            continue
    return found


def _inputs(
    repo: Repo,
    snap: Intake,
    paths: TouchedPaths,
    before: dict[str, FileStat],
    after: dict[str, FileStat],
) -> dict[str, PathRecord]:
    """Every input at the version the run read. An input the run also rewrote is known
    only through the stat cache (its pre-run content is gone); without a clean entry it
    is left out rather than recorded at the wrong version."""
    from mlvc.objects import PathRecord
    from mlvc.workspace.statcache import is_clean

    found: dict[str, PathRecord] = {}
    roots = sorted(paths.input_roots())
    snap.store.look_up([row.file_id for rel in roots if (row := snap.stat_cache.get(rel))])
    for rel in roots:
        record: PathRecord | None = None
        if rel in paths.outputs and rel in before:
            row = snap.stat_cache.get(rel)
            if row is None or not is_clean(row, before[rel]):
                continue
            pre = before[rel]
            record = PathRecord(row.file_id, pre.kind, pre.size, None, pre.executable)  # type: ignore[arg-type]
        elif rel in after or os.path.exists(repo.abspath(rel)):  # a directory, or via a link
            record = _snapshots(snap, [rel]).get(rel)
        if record is not None:
            found[rel] = record
    producers = repo.index.history.writers_of((r.id, rel) for rel, r in found.items())
    return {
        rel: PathRecord(r.id, r.kind, r.size, producers.get((r.id, rel)), r.executable)
        for rel, r in found.items()
    }
