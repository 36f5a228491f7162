"""Fixtures for `mlvc ui`: the example pipeline with a second train run (a changed
learning rate) and a run that logs metric series; the real `mlvc ui --port 0` serving a
copy of it; headless Debian chromium driven by Playwright.

Chromium comes from `make tools` (apt); if it is missing the session installs it that
way, so no browser test is ever skipped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MLVC, PYTHON, Template, isolated_env, runner

ROOT = Path(__file__).parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "ui"  # every screenshot, for a failed run (gitignored)
DOCS = ROOT / "docs" / "ui"  # the screenshots docs/ui.md shows, committed: `make ui-shots`
DOCS_SHOTS = os.environ.get("MLVC_UI_SHOTS") == "1"  # tests leave the checkout as it was
WAIT_MS = 60_000  # a generous bound on conditions, never a delay: `taskset -c 0` passes

CURVE = """\
import mlvc

for step in range(25):
    mlvc.log_metric("loss", round(1.0 / (step + 1), 6), step=step)
    mlvc.log_metric("accuracy", round(1 - 0.4 / (step + 1), 6), step=step)
print("fitted the curve")
"""


@dataclass(frozen=True)
class Served:
    url: str
    workspace: Path
    runs: dict[str, str]


@pytest.fixture(scope="session")
def ui_template(tmp_path_factory: pytest.TempPathFactory, ran_template: Template) -> Template:
    """`ran_template`, then `train` again with learning_rate 0.5 (`train2`), then a run
    that logs two metric series (`curve`)."""
    workspace = ran_template.copy(tmp_path_factory.mktemp("ui-template") / "ws")
    mlvc = runner(workspace, isolated_env(tmp_path_factory))
    params = workspace / "params.yaml"
    params.write_text(params.read_text().replace("learning_rate: 0.1", "learning_rate: 0.5"))
    runs = dict(ran_template.runs)
    runs["train2"] = json.loads(mlvc("run", "--json", "--", PYTHON, "train.py").stdout)["run_id"]
    (workspace / "curve.py").write_text(CURVE)
    result = mlvc("run", "--json", "--message", "a curve", "--", PYTHON, "curve.py")
    runs["curve"] = json.loads(result.stdout)["run_id"]
    return Template(workspace, runs)


def start_ui(workspace: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """`mlvc ui --port 0` in `workspace`; the process and the URL it printed."""
    process = subprocess.Popen(
        [MLVC, "ui", "--port", "0", *args],
        cwd=workspace,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # blocks until the server listens (or exits)
    found = re.search(r"http://\S+", first)
    if found is None:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"mlvc ui printed {first!r}, stderr:\n{err}")
    return process, found.group()


def stop(process: subprocess.Popen[str]) -> str:
    """Stop the server; its stderr (where a crashed query's trace goes)."""
    process.terminate()
    _, err = process.communicate(timeout=30)
    return err


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, ui_template: Template) -> Iterator[Served]:
    workspace = ui_template.copy(tmp_path_factory.mktemp("ui-served") / "ws")
    process, url = start_ui(workspace)
    yield Served(url, workspace, ui_template.runs)
    err = stop(process)
    assert "Traceback" not in err, err


def ensure_chromium() -> str:
    if not os.path.exists(CHROMIUM):
        subprocess.run(["make", "-C", str(ROOT), "tools"], check=True)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable)
        yield launched
        launched.close()


class Page:
    """A browser tab that records what went wrong in it: uncaught errors, console
    errors (a Content-Security-Policy violation is one) and dialogs."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1100, "height": 700})
        self.context.set_default_timeout(WAIT_MS)
        self.tab = self.context.new_page()
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.tab.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.tab.on("console", self._console)
        self.tab.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, url: str) -> Any:
        """Go to `url` and wait until its view has finished loading."""
        self.tab.goto(url)
        self.tab.wait_for_selector("body[data-loaded='1']", state="attached")
        return self.tab

    def shoot(self, name: str, docs: bool = False) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        if docs and DOCS_SHOTS:
            DOCS.mkdir(parents=True, exist_ok=True)
            self.tab.screenshot(path=str(DOCS / f"{name}.png"))


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    opened = Page(browser)
    yield opened
    opened.context.close()
