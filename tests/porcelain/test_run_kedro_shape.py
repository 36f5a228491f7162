"""The Kedro spaceflights-pandas starter's shape, without Kedro: raw CSVs, a data_processing
step that writes Parquet through pyarrow, a data_science step that reads it back and
pickles a model. The Parquet files are opened from C++, which only the capture modes see:
the model's lineage must reach the raw data, and the model must reproduce identically."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Run

pytest.importorskip("pyarrow")
PYTHON = sys.executable

PIPELINE = textwrap.dedent(
    """
    import pickle, sys, yaml
    import numpy as np, pandas as pd

    def data_processing():
        companies = pd.read_csv("data/01_raw/companies.csv")
        shuttles = pd.read_csv("data/01_raw/shuttles.csv")
        companies["iata_approved"] = companies["iata_approved"] == "t"
        shuttles["price"] = shuttles["price"].str.replace("$", "").astype(float)
        companies.to_parquet("data/02_intermediate/preprocessed_companies.pq")
        shuttles.to_parquet("data/02_intermediate/preprocessed_shuttles.pq")
        shuttles = pd.read_parquet("data/02_intermediate/preprocessed_shuttles.pq")
        companies = pd.read_parquet("data/02_intermediate/preprocessed_companies.pq")
        table = shuttles.merge(companies, left_on="company_id", right_on="id")
        table.to_parquet("data/03_primary/model_input_table.pq")

    def data_science():
        params = yaml.safe_load(open("conf/base/parameters_data_science.yml"))["model_options"]
        table = pd.read_parquet("data/03_primary/model_input_table.pq")
        x = table[params["features"]].to_numpy(float)
        y = table["price"].to_numpy(float)
        rng = np.random.default_rng(params["random_state"])
        train = rng.random(len(y)) >= params["test_size"]
        coef, *_ = np.linalg.lstsq(np.c_[x[train], np.ones(train.sum())], y[train], rcond=None)
        with open("data/06_models/regressor.pickle", "wb") as out:
            pickle.dump({"coef": [round(float(c), 6) for c in coef]}, out, protocol=4)

    {"data_processing": data_processing, "data_science": data_science}[sys.argv[1]]()
    """
)


@pytest.fixture
def spaceflights(workspace: Path, mlvc: Run, git: Callable[..., str]) -> Path:
    mlvc("init")
    raw = workspace / "data" / "01_raw"
    raw.mkdir(parents=True)
    for sub in ("02_intermediate", "03_primary", "06_models"):
        (workspace / "data" / sub).mkdir()
        (workspace / "data" / sub / ".gitkeep").touch()  # as in the starter
    companies = ["id,iata_approved,company_rating"]
    companies += [f"{i},{'tf'[i % 2]},{50 + i}" for i in range(20)]
    (raw / "companies.csv").write_text("\n".join(companies) + "\n")
    shuttles = ["id,company_id,engines,passenger_capacity,price"]
    shuttles += [
        f"{i},{i % 20},{1 + i % 4},{2 + i % 7},${100 + 3 * i + (i % 5)}" for i in range(200)
    ]
    (raw / "shuttles.csv").write_text("\n".join(shuttles) + "\n")
    conf = workspace / "conf" / "base"
    conf.mkdir(parents=True)
    (conf / "parameters_data_science.yml").write_text(
        "model_options:\n  test_size: 0.2\n  random_state: 3\n"
        "  features: [engines, passenger_capacity, company_rating]\n"
    )
    (workspace / "pipeline.py").write_text(PIPELINE)
    git("add", "pipeline.py", "conf", "data", ":!data/01_raw", cwd=workspace)
    git("commit", "-qm", "spaceflights", cwd=workspace)
    mlvc("add", "data/01_raw")
    return workspace


def _run(mlvc: Run, *argv: str) -> str:
    return str(json.loads(mlvc("run", "--json", "--", *argv).stdout)["run_id"])


def test_model_lineage_reaches_the_raw_data_and_reproduces(spaceflights: Path, mlvc: Run) -> None:
    processing = _run(mlvc, PYTHON, "pipeline.py", "data_processing")
    science = _run(mlvc, PYTHON, "pipeline.py", "data_science")
    shown = json.loads(mlvc("show", science, "--json").stdout)
    table = shown["inputs"]["data/03_primary/model_input_table.pq"]
    assert table["producer_run"] == json.loads(mlvc("show", processing, "--json").stdout)["id"]
    assert set(shown["inputs"]) == {
        "data/03_primary/model_input_table.pq",
        "conf/base/parameters_data_science.yml",
    }
    assert shown["params"]["model_options.test_size"] == 0.2
    blame = json.loads(mlvc("blame", "data/06_models/regressor.pickle", "--json").stdout)
    edges = {(e["path"], e["producer"]) for e in blame["edges"]}
    raw = next(n["id"] for n in blame["nodes"] if n["kind"] == "snapshot")
    assert ("data/01_raw/shuttles.csv", raw) in edges
    assert ("data/01_raw/companies.csv", raw) in edges
    result = mlvc("reproduce", "--json", science, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["identical"] is True
