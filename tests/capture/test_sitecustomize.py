"""The tracer's `import mlvc` fallback: the Python API under `mlvc run` in an environment
that lacks mlvc (a virtualenv of its own), through the real console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import Run

SCRIPT = """\
import mlvc

mlvc.log_param("lr", 0.01)
mlvc.log_param("layers", [64, 32])
for step, loss in enumerate([0.9, 0.5, 0.25]):
    mlvc.log_metric("loss", loss, step=step)
mlvc.log_metric("acc", 0.75)
open("report.txt", "w").write("done\\n")
mlvc.log_output("report.txt")
try:
    with mlvc.start_run():
        pass
except RuntimeError as exc:
    print("start_run:", exc)
"""


def _bare_venv(where: Path) -> Path:
    """A virtualenv with the stdlib only (no pip, no mlvc); its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    alone = subprocess.run(
        [python, "-c", "import mlvc"], cwd=where, capture_output=True, text=True, check=False
    )
    assert "No module named 'mlvc'" in alone.stderr  # the premise: mlvc is not there
    return python


def _show(mlvc: Run, *argv: str) -> dict:
    run_id = json.loads(mlvc("run", "--json", "--", *argv).stdout)["run_id"]
    return json.loads(mlvc("show", run_id, "--json").stdout)


def test_the_api_works_in_an_environment_without_mlvc(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    python = _bare_venv(tmp_path / "venv")
    mlvc("init")
    (workspace / "train.py").write_text(SCRIPT)
    run = _show(mlvc, str(python), "train.py")
    assert run["status"] == "ok"
    assert run["params"] == {"lr": 0.01, "layers": [64, 32]}
    assert run["metrics"] == {"loss": 0.25, "acc": 0.75}
    assert "loss" in run["logs"]["metric_series"]
    assert "report.txt" in run["outputs"]
    stdout = mlvc("cat-object", run["logs"]["stdout"]).stdout
    assert stdout == "start_run: a run is already being recorded in this process\n"

    # An mlvc the environment has is the one imported.
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "mlvc.py").write_text("def log_param(k, v):\n    print('own', k, v)\n")
    (workspace / "own.py").write_text("import mlvc\nmlvc.log_param('lr', 1)\n")
    assert mlvc("run", "--", str(python), "own.py").stdout == "own lr 1\n"
