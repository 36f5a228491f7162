"""The environment a run records (mlvc/capture/runinfo.py), through the real `mlvc run`: the
list of installed distributions is cached between runs, and the cache follows installs;
what no command changes is taken while the command runs, and recorded as it is."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mlvc import codec
from mlvc.capture import environment, resources
from mlvc.capture.owner import owner
from mlvc.ids import from_hex
from mlvc.repo import Repo
from tests.conftest import Run, init_store, show_here


def _venv(where: Path) -> tuple[Path, Path]:
    """A virtualenv of its own (never the suite's): its python and site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    site = next((where / "lib").glob("python3*/site-packages"))
    return where / "bin" / "python", site


def _install(site: Path, name: str, version: str) -> None:
    """What `pip install` leaves: the module and its .dist-info, new entries in `site`."""
    (site / f"{name}.py").write_text("VALUE = 1\n")
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "top_level.txt").write_text(f"{name}\n")
    (info / "RECORD").write_text(f"{name}.py,,\n")


def _recorded(mlvc: Run, workspace: Path, python: Path) -> dict[str, str]:
    """The distributions the run of `python -c 'import tiny'` recorded (name -> version)."""
    script = "import importlib.util; importlib.util.find_spec('tiny') and __import__('tiny')"
    run_id = json.loads(mlvc("run", "--json", "--", str(python), "-c", script).stdout)["run_id"]
    shown = show_here(workspace, run_id)
    oid = from_hex(shown["environment"]["distributions"])
    repo = Repo.discover(workspace)
    try:
        rows = codec.decode(b"".join(repo.store.iter_file(oid)), "distributions")
    finally:
        repo.close()
    assert shown["environment"]["distribution_count"] == len(rows)
    return {name: version for name, version in rows}


def test_the_distribution_cache_follows_installs_and_removals(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    init_store(workspace)
    python, site = _venv(tmp_path / "venv")
    before = _recorded(mlvc, workspace, python)
    assert "tiny" not in before
    assert list((workspace / ".mlvc" / "tmp").glob("installed-*"))  # cached from here on
    assert _recorded(mlvc, workspace, python) == before  # the cache, unchanged

    _install(site, "tiny", "1.0")
    assert _recorded(mlvc, workspace, python) == {**before, "tiny": "1.0"}

    shutil.rmtree(site / "tiny-1.0.dist-info")  # an upgrade: one .dist-info for another
    _install(site, "tiny", "2.0")
    assert _recorded(mlvc, workspace, python) == {**before, "tiny": "2.0"}

    shutil.rmtree(site / "tiny-2.0.dist-info")
    (site / "tiny.py").unlink()
    assert _recorded(mlvc, workspace, python) == before


def test_the_machine_and_owner_taken_while_the_command_runs_are_recorded_as_they_are(
    mlvc: Run, workspace: Path
) -> None:
    init_store(workspace)
    for key, value in (("user.name", "Ada Run"), ("user.email", "ada@example.com")):
        subprocess.run(["git", "config", key, value], cwd=workspace, check=True)
    run_id = json.loads(mlvc("run", "--json", "--", "true").stdout)["run_id"]
    shown = show_here(workspace, run_id)

    env = dict(os.environ)  # the `mlvc` fixture's environment
    assert shown["owner"] == owner(env, workspace)
    assert (shown["owner"]["git_name"], shown["owner"]["git_email"]) == (
        "Ada Run",
        "ada@example.com",
    )
    machine = resources.machine()
    assert {key: shown["resources"][key] for key in machine} == machine
    assert shown["environment"]["platform"] == environment.platform_info(env)
    assert shown["environment"]["variables"] == environment.environment_variables(env)
