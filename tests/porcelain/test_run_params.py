"""`mlvc run` records params as users pass them: command-line overrides over config files,
and only the config files that are params (end to end, through the real console script)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import Run, init_store, show_here

PYTHON = sys.executable

# A Kedro project's configuration, as the spaceflights starter lays it out.
KEDRO_CONF = {
    "conf/base/catalog.yml": (
        "companies:\n  type: pandas.CSVDataset\n  filepath: data/01_raw/companies.csv\n"
        "model_input_table:\n  type: pandas.ParquetDataset\n"
        "  filepath: data/03_primary/model_input_table.parquet\n"
    ),
    "conf/base/parameters_data_science.yml": (
        "model_options:\n  test_size: 0.2\n  random_state: 3\n"
        "  features:\n    - engines\n    - passenger_capacity\n"
    ),
    "conf/base/parameters.yml": "{}\n",
    "conf/logging.yml": "version: 1\ndisable_existing_loggers: false\nroot:\n  level: INFO\n",
    "conf/local/credentials.yml": "db:\n  password: s3cr3t-in-file\n",
}
# Reads every config file, as `kedro run` does, echoes its arguments, writes a model.
KEDRO_LIKE = """\
import pathlib, sys
for path in sorted(pathlib.Path("conf").rglob("*.yml")):
    path.read_text()
print(" ".join(sys.argv[1:]))
pathlib.Path("model.txt").write_text(" ".join(sys.argv[1:]))
"""


def _kedro_project(workspace: Path, mlvc: Run) -> None:
    for rel, text in KEDRO_CONF.items():
        (workspace / rel).parent.mkdir(parents=True, exist_ok=True)
        (workspace / rel).write_text(text)
    (workspace / "kedro_like.py").write_text(KEDRO_LIKE)
    subprocess.run(["git", "add", "-A"], cwd=workspace, check=True)
    subprocess.run(["git", "commit", "-qm", "project"], cwd=workspace, check=True)
    init_store(workspace)


def _kedro_run(workspace: Path, mlvc: Run, *args: str) -> dict:
    argv = [PYTHON, "kedro_like.py", "run", "--pipeline", "data_science", *args]
    run_id = json.loads(mlvc("run", "--json", "--", *argv).stdout)["run_id"]
    return show_here(workspace, run_id)


def test_kedro_params_override_the_file_and_plumbing_configs_are_left_out(
    mlvc: Run, workspace: Path
) -> None:
    _kedro_project(workspace, mlvc)
    run = _kedro_run(
        workspace, mlvc, "--params", "model_options.test_size=0.25,model_options.random_state=4"
    )
    assert run["params"] == {
        "model_options.test_size": 0.25,
        "model_options.random_state": 4,
        "model_options.features": ["engines", "passenger_capacity"],
        "args.pipeline": "data_science",
    }
    # left out of the params, still inputs (but never the credentials)
    assert {"conf/base/catalog.yml", "conf/logging.yml"} <= set(run["inputs"])
    assert "conf/local/credentials.yml" not in run["inputs"]


def test_diff_shows_a_changed_override_as_a_typed_param(mlvc: Run, workspace: Path) -> None:
    _kedro_project(workspace, mlvc)
    _kedro_run(workspace, mlvc, "--params", "model_options.test_size=0.25")
    _kedro_run(workspace, mlvc, "--params", "model_options.test_size=0.3")
    diff = json.loads(mlvc("diff", "latest~1", "latest", "--json").stdout)
    assert diff["runs"]["params"] == [
        {"key": "model_options.test_size", "old": 0.25, "new": 0.3, "state": "changed"}
    ]


def test_hydra_overrides_replace_config_values(mlvc: Run, workspace: Path) -> None:
    init_store(workspace)
    (workspace / "conf").mkdir()
    (workspace / "conf/config.yaml").write_text("model:\n  lr: 0.1\n  layers: [8]\ndrop: 1\n")
    script = "open('conf/config.yaml').read()"
    argv = [PYTHON, "-c", script, "model.lr=0.01", "model.layers=[64,32]", "+seed=7", "~drop"]
    run_id = json.loads(mlvc("run", "--json", "--", *argv).stdout)["run_id"]
    run = show_here(workspace, run_id)
    assert run["params"] == {"model.lr": 0.01, "model.layers": [64, 32], "seed": 7}


def test_the_config_names_the_params_files(mlvc: Run, workspace: Path) -> None:
    _kedro_project(workspace, mlvc)
    with open(workspace / ".mlvc" / "config.toml", "a") as config:
        config.write(
            '\n[params]\ninclude = ["conf/*/catalog*", "conf/*/parameters*"]\n'
            'exclude = ["*data_science*"]\n'
        )
    run = _kedro_run(workspace, mlvc)
    assert run["params"] == {  # the catalog, named; not the parameters file, excluded
        "companies.type": "pandas.CSVDataset",
        "companies.filepath": "data/01_raw/companies.csv",
        "model_input_table.type": "pandas.ParquetDataset",
        "model_input_table.filepath": "data/03_primary/model_input_table.parquet",
        "args.pipeline": "data_science",
    }


def test_a_secret_override_is_never_recorded(mlvc: Run, workspace: Path) -> None:
    _kedro_project(workspace, mlvc)
    secret = "hunter2-in-argv"
    run = _kedro_run(
        workspace, mlvc, "--params", f"model_options.test_size=0.3,db.password={secret}"
    )
    assert run["params"]["db.password"] == "***"
    assert run["params"]["model_options.test_size"] == 0.3
    assert secret not in json.dumps(run)
    stdout = mlvc("cat-object", run["logs"]["stdout"]).stdout
    assert "db.password=***" in stdout
    assert secret not in stdout
