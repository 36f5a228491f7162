"""Crafted runs: path fields and recorded patches that point outside the workspace.

Runs arrive from remotes nobody vouches for. A run is forged here by decoding a real one,
changing one field and storing the canonical bytes under their own id (as a remote would
hand them over); then the real `mlvc show`, `checkout` and `reproduce` must refuse it with
a clear error (exit 1) naming the run and the bad field or path, and nothing outside the
workspace and the scratch worktree may be written, deleted or created: sentinel files
are planted outside and every file under the test's directory is compared before and
after.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlvc import codec
from mlvc.ids import Kind, from_hex
from mlvc.lineage.resolve import load_run
from mlvc.porcelain.rebuild import index_run
from mlvc.repo import Repo
from tests.conftest import init_store, isolated_env, runner

PYTHON = sys.executable
# Reads data/x.csv, writes out.txt: one input under a directory, one output.
MAIN = "open('out.txt', 'w').write(open('data/x.csv').read().upper())\n"


def _tree(top: Path) -> dict[str, tuple[str, bytes]]:
    """Every entry under `top` (kind and content or link target), skipping the metadata
    directories mlvc and git legitimately write (.mlvc, .git)."""
    found: dict[str, tuple[str, bytes]] = {}
    for where, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in (".mlvc", ".git")]
        for name in dirs + files:
            path = Path(where, name)
            rel = str(path.relative_to(top))
            if path.is_symlink():
                found[rel] = ("symlink", os.fsencode(os.readlink(path)))
            elif path.is_dir():
                found[rel] = ("dir", b"")
            else:
                found[rel] = ("file", path.read_bytes())
    return found


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the workspace with sentinels at the names the crafted runs
    aim at."""
    where = tmp_path / "outside"
    where.mkdir()
    for name in ("x.csv", "sentinel.txt"):
        (where / name).write_text(f"sentinel {name}\n")
    (where / "data").mkdir()
    (where / "data" / "x.csv").write_text("sentinel data/x.csv\n")
    return where


def _forge(workspace: Path, run: str, change: Callable[[dict[str, Any], Repo], None]) -> str:
    """Store a copy of `run` changed by `change(value, repo)`; returns the new run's id."""
    repo = Repo.discover(workspace)
    try:
        value = codec.decode(repo.store.get(from_hex(run))[1], "run")
        change(value, repo)
        oid = repo.store.put_object(Kind.RUN, codec.encode(value))
        repo.store.commit()
    finally:
        repo.close()
    return oid.hex()


def _record(factory: pytest.TempPathFactory, name: str, git: bool) -> tuple[Path, str]:
    """A workspace holding main.py, `mlvc init` and one real run of it (in a git
    repository whose commit holds main.py, data/ ignored, if `git`); the run's id. Made
    once per module: each test forges from its own copy."""
    where = factory.mktemp(name) / "ws"
    where.mkdir()
    env = isolated_env(factory)
    (where / "main.py").write_text(MAIN)
    if git:
        (where / ".gitignore").write_text("data/\nout.txt\n")
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "main"]):
            subprocess.run(["git", *args], cwd=where, env=env, check=True, capture_output=True)
    (where / "data").mkdir()
    (where / "data" / "x.csv").write_text("a,b\n")
    init_store(where)
    ran = runner(where, env)("run", "--json", "--", PYTHON, "main.py")
    return where, str(json.loads(ran.stdout)["run_id"])


@pytest.fixture(scope="module")
def plain_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return _record(tmp_path_factory, "plain", git=False)


@pytest.fixture(scope="module")
def git_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return _record(tmp_path_factory, "git-run", git=True)


@pytest.fixture
def git_run(workspace: Path, git_template: tuple[Path, str]) -> str:
    """A run in a git workspace whose commit holds main.py (data/ is ignored)."""
    template, run = git_template
    shutil.rmtree(workspace)
    shutil.copytree(template, workspace, symlinks=True)
    return run


def _error(result: Any, *needles: str) -> None:
    """A clean refusal (exit 1, `error:` after any `mlvc:` progress lines, no
    traceback) naming every needle."""
    lines = result.stderr.splitlines()
    while lines and lines[0].startswith("mlvc: "):
        lines.pop(0)
    assert result.returncode == 1 and lines and lines[0].startswith("error:"), result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} not in stderr\n{result.describe()}"


def _refused(cli, tmp_path: Path, run: str, *needles: str, cwd: Path | None = None) -> None:
    """reproduce, checkout and show each refuse `run`, naming it and the needles, and
    leave every file under tmp_path (outside .mlvc/.git) as it was."""
    before = _tree(tmp_path)
    for command in (("reproduce", run), ("checkout", run), ("show", run)):
        result = cli(*command, cwd=cwd)
        assert _tree(tmp_path) == before, result.describe()
        _error(result, run[:12], *needles)


# -- path fields, checked when the run is read ----------------------------------------


@pytest.mark.parametrize("key", ["../../../escaped.py", "/tmp/../escaped.py", "a/../../x.py"])
def test_script_path_outside_the_scratch_workspace_is_refused(
    cli, tmp_path: Path, outside: Path, plain_template: tuple[Path, str], key: str
) -> None:
    """Without git, reproduce writes the recorded scripts into a new directory: a key
    such as ../../../escaped.py landed beside it (here: in tmp_path)."""
    template, run = plain_template
    plain = shutil.copytree(template, tmp_path / "plain", symlinks=True)

    def change(value: dict[str, Any], repo: Repo) -> None:
        scripts = value["code"]["scripts"]
        scripts[key] = scripts["main.py"]

    forged = _forge(plain, run, change)
    _refused(cli, tmp_path, forged, "code.scripts", repr(key), cwd=plain)
    assert not (tmp_path / "escaped.py").exists()


@pytest.mark.parametrize("where", ["absolute", "../../../outside", "x/../.."])
def test_toplevel_pointing_anywhere_is_refused(
    workspace: Path, cli, tmp_path: Path, outside: Path, git_run: str, where: str
) -> None:
    """reproduce placed the scratch workspace at worktree/<code.toplevel>: an absolute
    or `..` toplevel made it write (and first delete) the inputs there."""
    toplevel = str(outside) if where == "absolute" else where

    def change(value: dict[str, Any], repo: Repo) -> None:
        value["code"]["toplevel"] = toplevel

    forged = _forge(workspace, git_run, change)
    _refused(cli, tmp_path, forged, "code.toplevel", repr(toplevel))
    assert (outside / "data" / "x.csv").read_text() == "sentinel data/x.csv\n"


def test_a_lying_toplevel_is_not_used(workspace: Path, cli, git_run: str) -> None:
    """A well-formed but wrong `code.toplevel` is harmless: the scratch workspace sits
    where this workspace sits in its own git top, whatever the run says."""

    def change(value: dict[str, Any], repo: Repo) -> None:
        value["code"]["toplevel"] = "elsewhere"

    forged = _forge(workspace, git_run, change)
    done = cli("reproduce", "--json", forged).ok()
    result = json.loads(done.stdout)
    assert result["identical"], result
    assert [o["path"] for o in result["outputs"]] == ["out.txt"]


@pytest.mark.parametrize("where", ["absolute", "../../../cwd-escape", "data/../../cwd-escape"])
def test_cwd_outside_the_workspace_is_refused(
    workspace: Path, cli, tmp_path: Path, outside: Path, git_run: str, where: str
) -> None:
    """reproduce created the recorded cwd (mkdir -p) and ran the command there."""
    cwd = str(outside / "made") if where == "absolute" else where

    def change(value: dict[str, Any], repo: Repo) -> None:
        value["cwd"] = cwd

    forged = _forge(workspace, git_run, change)
    _refused(cli, tmp_path, forged, "cwd", repr(cwd))
    assert not (outside / "made").exists() and not (tmp_path / "cwd-escape").exists()


# -- the recorded code: a patch or a commit that plants a symlink ---------------------


def _symlink_patch(name: str, target: str) -> bytes:
    return (
        f"diff --git a/{name} b/{name}\n"
        "new file mode 120000\n"
        "--- /dev/null\n"
        f"+++ b/{name}\n"
        "@@ -0,0 +1 @@\n"
        f"+{target}\n"
        "\\ No newline at end of file\n"
    ).encode()


def _with_patch(patch: bytes) -> Callable[[dict[str, Any], Repo], None]:
    def change(value: dict[str, Any], repo: Repo) -> None:
        value["code"]["patch"] = repo.store.put_bytes(patch)
        value["code"]["dirty"] = True

    return change


def test_patch_making_an_input_directory_a_symlink_is_refused(
    workspace: Path, cli, tmp_path: Path, outside: Path, git_run: str
) -> None:
    """The patch makes `data` a symlink to a directory outside; the run's input is
    data/x.csv. reproduce deleted outside/data/x.csv (removing "git's version") and
    then wrote there."""
    forged = _forge(workspace, git_run, _with_patch(_symlink_patch("data", str(outside / "data"))))
    before = _tree(tmp_path)
    result = cli("reproduce", forged)
    assert (outside / "data" / "x.csv").read_text() == "sentinel data/x.csv\n"
    assert _tree(tmp_path) == before
    _error(result, forged[:12], "'data'", "'data/x.csv'", "symlink")


def test_checkout_code_refuses_the_same_patch_before_touching_the_workspace(
    workspace: Path, cli, tmp_path: Path, outside: Path, git_run: str, git
) -> None:
    """`mlvc checkout --code` applies the patch in the user's own work tree: the symlink
    must not be made there, let alone written through by the inputs that follow."""
    forged = _forge(workspace, git_run, _with_patch(_symlink_patch("data", str(outside / "data"))))
    for path in (workspace / "data" / "x.csv", workspace / "data"):
        path.unlink() if path.is_file() else path.rmdir()
    head = git("rev-parse", "HEAD", cwd=workspace)
    before = _tree(tmp_path)
    for extra in ((), ("--inputs",)):
        result = cli("checkout", "--code", *extra, forged)
        assert _tree(tmp_path) == before, result.describe()
        assert git("rev-parse", "HEAD", cwd=workspace) == head
        _error(result, forged[:12], "'data'", "symlink")


def test_patch_writing_into_the_mlvc_directory_is_refused(
    workspace: Path, cli, git_run: str, git
) -> None:
    """git apply guards .git, not .mlvc: checkout --code wrote the store's own files."""
    patch = (
        b"diff --git a/.mlvc/planted b/.mlvc/planted\n"
        b"new file mode 100644\n"
        b"--- /dev/null\n"
        b"+++ b/.mlvc/planted\n"
        b"@@ -0,0 +1 @@\n"
        b"+planted\n"
    )
    forged = _forge(workspace, git_run, _with_patch(patch))
    for command in (("checkout", "--code"), ("reproduce",)):
        result = cli(*command, forged)
        assert not (workspace / ".mlvc" / "planted").exists(), result.describe()
        _error(result, forged[:12], "'.mlvc/planted'")


def test_commit_with_a_symlink_above_an_input_is_refused(
    workspace: Path, cli, tmp_path: Path, outside: Path, git_run: str, git
) -> None:
    """The recorded commit itself (fetched from a remote, say) holds `data` as a symlink
    out of the tree: the scratch worktree has it before any patch, and writing the input
    data/x.csv went through it."""
    link = (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=workspace,
            input=str(outside / "data").encode(),
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    listing = git("ls-tree", "HEAD", cwd=workspace) + f"120000 blob {link}\tdata\n"
    tree = (
        subprocess.run(
            ["git", "mktree"],
            cwd=workspace,
            input=listing.encode(),
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    commit = git("commit-tree", tree, "-p", "HEAD", "-m", "link", cwd=workspace).strip()

    def change(value: dict[str, Any], repo: Repo) -> None:
        value["code"]["commit"] = commit

    forged = _forge(workspace, git_run, change)
    before = _tree(tmp_path)
    result = cli("reproduce", forged)
    assert (outside / "data" / "x.csv").read_text() == "sentinel data/x.csv\n"
    assert _tree(tmp_path) == before
    _error(result, forged[:12], "'data/x.csv'", "symlink 'data'")


def test_a_run_of_no_command_is_no_step(workspace: Path, cli, git_run: str) -> None:
    """A run from a remote may record no command at all. It is no step of the pipeline:
    `status` listed it as stale, loaded it and appended it to the step memo at every
    call; `rerun` crashed (exit 3) starting it and `reproduce` refuses it cleanly."""

    def change(value: dict[str, Any], repo: Repo) -> None:
        value["command"] = []
        value["started"] = "2999" + value["started"][4:]  # the newest writer of out.txt

    forged = _forge(workspace, git_run, change)
    repo = Repo.discover(workspace)
    try:  # indexed as fetch indexes the runs it brings
        with repo.index.transaction():
            index_run(repo, from_hex(forged), load_run(repo, from_hex(forged)))
    finally:
        repo.close()
    (workspace / "data" / "x.csv").write_text("c,d\n")  # every step reading it is stale
    memo = workspace / ".mlvc" / "steps.msgpack"
    first = cli("status").ok()
    size = memo.stat().st_size
    assert forged[:12] not in first.stdout.decode() and git_run[:12] in first.stdout.decode()
    cli("status").ok()
    assert memo.stat().st_size == size  # nothing appended again
    cli("rerun").ok()
    assert (workspace / "out.txt").read_text() == "C,D\n"
    refused = cli("reproduce", forged)
    assert refused.returncode not in (0, 3) and "no command to run" in refused.stderr
    assert "Traceback" not in refused.stderr
