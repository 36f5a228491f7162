"""Shared fixtures: real temp workspaces, real git, the real `mlvc` console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from mlvc.ids import ObjectId
from mlvc.repo import Repo
from mlvc.store.refs import Tags

if TYPE_CHECKING:
    from mlvc.porcelain.checkout import CheckoutResult

MLVC = str(Path(sys.executable).with_name("mlvc"))

# pytest caches the assertion-rewritten test modules in tests/**/__pycache__ (ignored by
# git) unless bytecode writing is off; with PYTHONDONTWRITEBYTECODE set, every xdist
# worker rewrote every test module on every run (~1.5 s of CPU each). This process only:
# the commands the tests start still get the environment as it is.
sys.dont_write_bytecode = False

Run = Callable[..., subprocess.CompletedProcess[str]]


def wait_past_racy_window(path: Path) -> None:
    """Until the clock is past the racy window of `path`'s ctime, so that a stat-cache
    row made from now on is clean. `os.utime` sets the ctime to now: a file made "old"
    with it is still racy for a moment, and whether a command that follows hashes it
    inside that moment depends on the machine's speed. A clock condition, not a delay."""
    from mlvc.store.worktree import racy_window

    ctime = path.stat().st_ctime_ns
    while time.time_ns() <= ctime + racy_window(ctime):
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test may touch the real home directory (or the user's git config)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.com")


@pytest.fixture(scope="session")
def _empty_git(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `git init` made once per session (per xdist worker), with the isolated HOME and
    identity every test has: each `workspace` is a copy, cheaper than running git."""
    ws = tmp_path_factory.mktemp("empty-git") / "ws"
    ws.mkdir()
    env = isolated_env(tmp_path_factory)
    subprocess.run(["git", "init", "-q", str(ws)], check=True, env=env)
    return ws


@pytest.fixture
def workspace(tmp_path: Path, _empty_git: Path) -> Path:
    """An empty git repository to work in."""
    ws = tmp_path / "ws"
    shutil.copytree(_empty_git, ws, symlinks=True)
    return ws


def init_store(workspace: Path) -> Path:
    """`mlvc init` in `workspace`, in this process: for tests whose subject is what comes
    after (the real command is tested in tests/cli/test_init_add_status.py)."""
    Repo.init(workspace).close()
    return workspace


def added_then_removed(workspace: Path, top: str = "data") -> ObjectId:
    """`top` stored by an in-process `add` into a new store, then deleted from the
    workspace: the run to check out again."""
    from mlvc.porcelain.add import add

    init_store(workspace)
    repo = Repo.discover(workspace)
    try:
        run_id = add(repo, [Path(top)], workspace, {"user": "t"}).run_id
    finally:
        repo.close()
    assert run_id is not None
    shutil.rmtree(workspace / top)
    return run_id


def checkout_here(workspace: Path, run_id: ObjectId) -> CheckoutResult:
    """An in-process `checkout` of `run_id` in `workspace`."""
    from mlvc.porcelain.checkout import CheckoutRequest, checkout

    repo = Repo.discover(workspace)
    try:
        return checkout(repo, CheckoutRequest(run_id))
    finally:
        repo.close()


def show_here(workspace: Path, ref: str) -> dict[str, Any]:
    """What `mlvc show REF --json` prints, from an in-process `show`: for tests that read
    back what a command under test recorded (`show` itself is tested through the real
    command in tests/lineage and tests/robustness)."""
    from mlvc.encode import show_json, to_json
    from mlvc.porcelain.show import show

    repo = Repo.discover(workspace)
    try:
        shown: dict[str, Any] = json.loads(to_json(show_json(show(repo, ref, workspace))))
    finally:
        repo.close()
    return shown


@pytest.fixture
def mlvc(workspace: Path) -> Run:
    """Run the installed `mlvc` command in the workspace (or `cwd=`); returns the result.

    `check=True` (the default) fails the test on a non-zero exit, showing stderr.
    """

    def run(
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [MLVC, *args],
            cwd=cwd or workspace,
            capture_output=True,
            text=True,
            input=input,
            env={**os.environ, **(env or {})},
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"mlvc {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    return run


@pytest.fixture
def repo(workspace: Path) -> Iterator[Repo]:
    """An initialised repository in the workspace, opened through the library."""
    opened = Repo.init(workspace)
    yield opened
    opened.close()


@pytest.fixture
def git() -> Callable[..., str]:
    def run(*args: str, cwd: Path) -> str:
        return subprocess.run(
            ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
        ).stdout

    assert shutil.which("git"), "git is required"
    return run


EXAMPLE = Path(__file__).parents[1] / "examples" / "pipeline"
PYTHON = sys.executable
STAGES = ("prepare", "featurize", "train", "evaluate")


@dataclass(frozen=True)
class Template:
    """A workspace built once per session (per xdist worker), never used by a test itself:
    each test or module gets a copy, cheaper than the subprocesses that built it."""

    workspace: Path
    runs: dict[str, str]  # stage (and "raw" for the snapshot) -> run id

    def copy(self, to: Path) -> Path:
        """The template copied to `to` (replaced if there): the same git history, store
        and files; the stat cache no longer vouches for the copies (new inodes), so
        mlvc hashes them again, as it must for any file it has not seen."""
        if to.exists():
            shutil.rmtree(to)
        shutil.copytree(self.workspace, to, symlinks=True)
        return to


def runner(workspace: Path, env: dict[str, str]) -> Run:
    """The real `mlvc` script run in `workspace` with `env`: for fixtures built once per
    module or session, which cannot use the per-test `mlvc` fixture."""

    def mlvc(
        *args: str, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [MLVC, *args], cwd=cwd or workspace, capture_output=True, text=True, env=env
        )
        if check and result.returncode != 0:
            pytest.fail(f"mlvc {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    return mlvc


@pytest.fixture(scope="session")
def raw_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The example pipeline committed to git, `mlvc init`, its raw data made and added."""
    workspace = tmp_path_factory.mktemp("raw-template") / "ws"
    workspace.mkdir()
    env = isolated_env(tmp_path_factory)
    mlvc = runner(workspace, env)

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=workspace, check=True, env=env, capture_output=True)

    git("init", "-q")
    for item in EXAMPLE.iterdir():
        if item.is_file():
            shutil.copy(item, workspace / item.name)
    git("add", "-A")
    git("commit", "-qm", "pipeline")
    mlvc("init")
    subprocess.run([PYTHON, "make_raw.py"], cwd=workspace, check=True, env=env)
    return Template(
        workspace, {"raw": json.loads(mlvc("add", "data/raw", "--json").stdout)["run_id"]}
    )


@pytest.fixture(scope="session")
def ran_template(tmp_path_factory: pytest.TempPathFactory, raw_template: Template) -> Template:
    """`raw_template` with the four stages of the pipeline run once, in order."""
    workspace = raw_template.copy(tmp_path_factory.mktemp("ran-template") / "ws")
    mlvc = runner(workspace, isolated_env(tmp_path_factory))
    runs = dict(raw_template.runs)
    for stage in STAGES:
        result = mlvc("run", "--json", "--", PYTHON, f"{stage}.py")
        runs[stage] = json.loads(result.stdout)["run_id"]
    return Template(workspace, runs)


@pytest.fixture
def pipeline(workspace: Path, raw_template: Template) -> Path:
    """The example pipeline in the workspace, committed, `mlvc init`, its raw data added."""
    return raw_template.copy(workspace)


class Ran(NamedTuple):
    workspace: Path
    runs: dict[str, str]  # stage -> run id


@pytest.fixture
def ran_pipeline(workspace: Path, ran_template: Template) -> Ran:
    """`pipeline` after its four stages ran once, in order: the workspace and the run id
    of each stage. For tests of what comes after a run (checkout, reproduce)."""
    return Ran(ran_template.copy(workspace), {s: ran_template.runs[s] for s in STAGES})


@dataclass(frozen=True)
class Pipeline:
    workspace: Path
    mlvc: Callable[..., subprocess.CompletedProcess[str]]
    runs: dict[str, str]  # stage (and "raw" for the snapshot) -> run id


def train_again(built: Pipeline, ids: dict[str, list[str]]) -> None:
    """`train.learning_rate` 0.1 -> 0.5, then train and evaluate run again: their new
    run ids join `ids`."""
    params = built.workspace / "params.yaml"
    params.write_text(params.read_text().replace("learning_rate: 0.1", "learning_rate: 0.5"))
    for stage in ("train", "evaluate"):
        result = built.mlvc("run", "--json", "--", PYTHON, f"{stage}.py")
        ids[stage].append(str(json.loads(result.stdout)["run_id"]))


def copy_history(
    template: tuple[Path, dict[str, list[str]]], workspace: Path
) -> dict[str, list[str]]:
    """A copy of a module's built history in this test's workspace (tests change what
    they get), and its run ids."""
    source, ids = template
    shutil.rmtree(workspace)
    shutil.copytree(source, workspace, symlinks=True)
    return {stage: list(runs) for stage, runs in ids.items()}


def isolated_env(factory: pytest.TempPathFactory) -> dict[str, str]:
    """The process environment with its own HOME and git identity, as `_isolated_home`
    sets per test: for fixtures built once per module, before that runs."""
    return {
        **os.environ,
        "HOME": str(factory.mktemp("home")),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Author",
        "GIT_COMMITTER_EMAIL": "author@example.com",
    }


def build_pipeline(
    factory: pytest.TempPathFactory, template: Template, tag: bool = True
) -> Pipeline:
    """The example pipeline run once (a copy of `ran_template`), with the train run tagged
    `prod` (if `tag`): for a module's fixture, so with its own HOME and git identity."""
    workspace = template.copy(factory.mktemp("pipeline") / "ws")
    if tag:
        repo = Repo.discover(workspace)
        tags = Tags(repo.dir)
        tags.move(
            "prod", ObjectId(bytes.fromhex(template.runs["train"])), None, "tester", "2026-01-01"
        )
        repo.close()
    return Pipeline(workspace, runner(workspace, isolated_env(factory)), dict(template.runs))
