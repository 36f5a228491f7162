"""`mlvc reproduce RUN`: re-execute a run from its recorded code and inputs, record the new
run (`reproduces: RUN`) and compare what it wrote with what the original wrote.

By default the run happens in a scratch workspace: a git worktree at the recorded commit
with the recorded patch (without git, the recorded scripts), plus the inputs at the
versions the run read. The user's workspace, tracked paths and stat cache are untouched.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlvc import secrets
from mlvc.capture.request import RunRequest
from mlvc.errors import MlvcError, UnsafePathError
from mlvc.ids import ObjectId, short
from mlvc.lineage.resolve import flatten_tree, load_run
from mlvc.objects import PathRecord, Run
from mlvc.porcelain.checkout import CheckoutRequest, checkout
from mlvc.porcelain.run import run
from mlvc.repo import Repo
from mlvc.workspace import gitcode
from mlvc.workspace.materialize import Materializer
from mlvc.workspace.patch import refuse_symlinks
from mlvc.workspace.plan import recorded_state
from mlvc.workspace.records import RecordedFile

Verdict = Literal["identical", "differs", "missing", "new"]


class NotReproducibleError(MlvcError):
    pass


@dataclass(frozen=True)
class OutputCheck:
    path: str
    verdict: Verdict
    old: ObjectId | None
    new: ObjectId | None
    files: tuple[str, ...] = ()  # for directories: the files that differ
    reason: str | None = None  # how it differs, in one line (see lineage/explain.py)


@dataclass(frozen=True)
class ReproduceRequest:
    run_id: ObjectId
    env: Mapping[str, str]
    scratch: Path  # where the scratch workspace goes (a temporary directory's parent)
    in_place: bool = False
    keep: bool = False
    terminal: tuple[int, int] = (1, 2)
    owner: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReproduceResult:
    original: ObjectId
    run_id: ObjectId
    exit_code: int
    original_exit_code: int | None
    outputs: tuple[OutputCheck, ...]
    metrics: dict[str, tuple[Any, Any]]  # key -> (original, new), only those that differ
    environment: tuple[str, ...]  # differences, one line each
    workspace: Path | None  # the kept scratch workspace
    restored_inputs: int
    causes: tuple[str, ...] = ()  # what kept it from matching, where the record says

    @property
    def identical(self) -> bool:
        return self.exit_code == self.original_exit_code and all(
            o.verdict == "identical" for o in self.outputs
        )


def reproduce(repo: Repo, request: ReproduceRequest) -> ReproduceResult:
    original = load_run(repo, request.run_id)
    if original.kind != "run":
        raise NotReproducibleError(
            f"{short(request.run_id)} is a snapshot (mlvc add), not a command to re-execute",
            hint="reproduce the run that read it; 'mlvc log --consumers PATH' lists them",
        )
    secrets.check_reproducible(short(request.run_id), original.command)
    from mlvc.porcelain.pull import ensure_local  # a fetched run's data may be remote

    ensure_local(repo, [request.run_id], strict=False)
    if request.in_place:
        return _in_place(repo, request, original)
    parent = Path(tempfile.mkdtemp(prefix="mlvc-reproduce-", dir=request.scratch))
    dest = parent / "workspace"
    git = original.code.get("git") is True
    try:
        wants, _, _ = recorded_state(repo, original, inputs=True)
        leaves = [*wants, *_scripts(original)]
        _refuse_nested(request.run_id, leaves)
        root = _scratch(repo, request, original, dest, parent / "tmp")
        # Whatever the commit or the patch holds, no write below goes through a symlink.
        refuse_symlinks(root, leaves, f"run {short(request.run_id)}: its recorded code")
        scratch_repo = Repo(root, repo.config, store=repo.dir)
        writer = Materializer(repo.store, root, parent / "tmp")
        writer.prepare()
        for want in wants.values():
            writer.remove(want.path)  # git's version, or a directory in the way
            writer.write(want)
        writer.cleanup()
        result = _execute(scratch_repo, request, original, track=False)
        return _compare(repo, request, original, result, len(wants), root if request.keep else None)
    finally:
        if not request.keep:
            if git:
                gitcode.remove_worktree(repo.root, dest, request.env)
            shutil.rmtree(parent, ignore_errors=True)


def _scratch(repo: Repo, request: ReproduceRequest, original: Run, dest: Path, tmp: Path) -> Path:
    """The scratch workspace with the run's code: a git worktree at the recorded commit
    plus the recorded patch, or (without git) a new directory with the recorded scripts.
    Where it is comes from this workspace, never from the run (`code.toplevel`)."""
    if original.code.get("git") is not True:
        _write_scripts(repo, original, dest, tmp)
        return dest
    what = f"run {short(request.run_id)}"
    guarded = gitcode.guarded_paths(original)
    return gitcode.add_worktree(
        repo.root, original.code, repo.store, request.env, dest, what, guarded
    )


def _scripts(original: Run) -> dict[str, Any]:
    """The recorded scripts (their paths were checked when the run was read)."""
    scripts = original.code.get("scripts")
    return scripts if isinstance(scripts, dict) else {}


def _refuse_nested(run_id: ObjectId, paths: list[str]) -> None:
    """No input or script lies beneath another (a file or a symlink): writing it would go
    through that symlink (or fail on that file) once the other is written."""
    leaves = set(paths)
    for path in sorted(leaves):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            above = "/".join(parts[:depth])
            if above in leaves:
                raise UnsafePathError(
                    f"run {short(run_id)}: input {path!r} lies beneath the input or script"
                    f" {above!r}, a file or symlink",
                    hint="the run was damaged or crafted; mlvc refuses to reproduce it",
                )


def _in_place(repo: Repo, request: ReproduceRequest, original: Run) -> ReproduceResult:
    """Restore the inputs into the user's workspace (storing anything in the way), run
    there with the code as it stands, and record as `mlvc run` does."""
    restored = checkout(
        repo, CheckoutRequest(request.run_id, inputs=True, owner=dict(request.owner))
    )
    result = _execute(repo, request, original, track=True)
    return _compare(repo, request, original, result, len(restored.changes), None)


def _write_scripts(repo: Repo, original: Run, root: Path, tmp: Path) -> None:
    """Without git, the code is what the run recorded: its scripts and imported modules."""
    root.mkdir(parents=True)
    scripts = _scripts(original)
    writer = Materializer(repo.store, root, tmp)
    writer.prepare()
    for rel, oid in sorted(scripts.items()):
        if isinstance(rel, str) and isinstance(oid, bytes):
            writer.write(RecordedFile(rel, "file", ObjectId(oid), -1, False, rel))
    writer.cleanup()


def recorded_environment(original: Run, env: Mapping[str, str]) -> dict[str, str]:
    """`env` with the environment variables the run recorded set as they were."""
    recorded = original.environment.get("variables", {}).get("values", {})
    return {**env, **{k: v for k, v in recorded.items() if isinstance(v, str)}}


def _execute(repo: Repo, request: ReproduceRequest, original: Run, track: bool) -> Any:
    env = recorded_environment(original, request.env)
    cwd = repo.root / original.cwd if original.cwd != "." else repo.root
    # The inputs were just written: none may have made a directory of `cwd` a symlink.
    refuse_symlinks(repo.root, [original.cwd + "/"], f"run {short(request.run_id)}: cwd")
    if not cwd.is_dir():
        cwd.mkdir(parents=True)
    return run(
        repo,
        RunRequest(
            argv=list(original.command),
            cwd=cwd,
            env=env,
            message=f"reproduce {short(request.run_id)}",
            # Linked to the mainline run: reproducing a reproduction reproduces its original.
            reproduces=original.reproduces or request.run_id,
            terminal=request.terminal,
            track=track,
        ),
    )


def _compare(
    repo: Repo,
    request: ReproduceRequest,
    original: Run,
    result: Any,
    restored: int,
    kept: Path | None,
) -> ReproduceResult:
    new = load_run(repo, result.run_id)
    checks = [
        _check(repo, path, original.outputs.get(path), new.outputs.get(path))
        for path in sorted(set(original.outputs) | set(new.outputs))
    ]
    metrics = {
        key: (original.metrics.get(key), new.metrics.get(key))
        for key in sorted(set(original.metrics) | set(new.metrics))
        if original.metrics.get(key) != new.metrics.get(key)
    }
    return ReproduceResult(
        original=request.run_id,
        run_id=result.run_id,
        exit_code=result.exit_code,
        original_exit_code=original.exit_code,
        outputs=tuple(checks),
        metrics=metrics,
        environment=tuple(environment_differences(original.environment, new.environment)),
        workspace=kept,
        restored_inputs=restored,
        causes=_causes(repo, original, new, checks, result.exit_code),
    )


def _causes(
    repo: Repo, original: Run, new: Run, checks: list[OutputCheck], exit_code: int
) -> tuple[str, ...]:
    from mlvc.lineage.explain import causes

    if exit_code == original.exit_code and all(c.verdict == "identical" for c in checks):
        return ()
    return tuple(causes(repo, original, new))


def _check(repo: Repo, path: str, old: PathRecord | None, new: PathRecord | None) -> OutputCheck:
    if old is None:
        return OutputCheck(path, "new", None, new.id if new else None)
    if new is None:
        return OutputCheck(path, "missing", old.id, None)
    if old.id == new.id and old.kind == new.kind:
        return OutputCheck(path, "identical", old.id, new.id)
    from mlvc.lineage.explain import why_differs

    files: tuple[str, ...] = ()
    if old.kind == "tree" and new.kind == "tree":
        a, b = flatten_tree(repo, old.id), flatten_tree(repo, new.id)
        files = tuple(p for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p))
    reason = why_differs(repo, path, old, new, files)
    return OutputCheck(path, "differs", old.id, new.id, files, reason)


def environment_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Python and package versions that differ between two runs' environments."""
    found = []
    old_py, new_py = old.get("python") or {}, new.get("python") or {}
    if old_py.get("version") != new_py.get("version"):
        found.append(f"python {old_py.get('version')} -> {new_py.get('version')}")
    if old_py.get("executable") != new_py.get("executable"):
        found.append(f"python at {old_py.get('executable')} -> {new_py.get('executable')}")
    old_mods, new_mods = old.get("modules") or {}, new.get("modules") or {}
    for module in sorted(set(old_mods) | set(new_mods)):
        before, after = old_mods.get(module), new_mods.get(module)
        if before != after:
            found.append(f"{module}: {before or 'not imported'} -> {after or 'not imported'}")
    return found
