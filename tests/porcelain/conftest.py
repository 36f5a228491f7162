"""The example pipeline as a fixture: copied into a git workspace, committed, raw data added."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Run

EXAMPLE = Path(__file__).parents[2] / "examples" / "pipeline"


@pytest.fixture
def pipeline(workspace: Path, mlvc: Run) -> Path:
    for item in EXAMPLE.iterdir():
        if item.is_file():
            shutil.copy(item, workspace / item.name)
    subprocess.run(["git", "add", "-A"], cwd=workspace, check=True)
    subprocess.run(["git", "commit", "-qm", "pipeline"], cwd=workspace, check=True)
    mlvc("init")
    subprocess.run([sys.executable, "make_raw.py"], cwd=workspace, check=True)
    mlvc("add", "data/raw")
    return workspace
