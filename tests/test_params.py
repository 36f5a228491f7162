"""Parameters from config files and argv, metrics from metrics files."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from mlvc.codec import encode
from mlvc.params import (
    ParamsFiles,
    argv_params,
    config_params,
    flatten,
    is_metrics_file,
    metrics_from,
)

YAML_CONFIG = b"""\
model:
  name: resnet50
  layers: [64, 128, 256]
  dropout: 0.1
  pretrained: true
optimizer:
  lr: 3.0e-4
  schedule: null
data:
  path: data/train.csv
  started: 2024-03-05
augment:
  - {kind: flip, p: 0.5}
  - {kind: crop, size: 224}
"""

TOML_CONFIG = b"""\
seed = 42
[train]
epochs = 10
lr = 1e-3
devices = [0, 1]
[train.early_stop]
patience = 3
when = 1979-05-27T07:32:00Z
"""


def test_flatten_nested_mappings() -> None:
    value = {"a": {"b": {"c": 1}}, "d": [1, "x", None], "e": list(range(17)), "f": {}}
    assert flatten(value) == {"a.b.c": 1, "d": [1, "x", None]}
    assert flatten({"x": 1}, prefix="cfg") == {"cfg.x": 1}


def test_flatten_makes_values_canonical() -> None:
    flat = flatten({"nan": math.nan, "big": 1 << 100, "raw": b"\x00", 3: "int key"})
    assert flat == {"nan": "nan", "big": str(1 << 100), "3": "int key"}


def test_flatten_survives_a_structure_that_contains_itself() -> None:
    loop: dict[str, Any] = {"x": 1}
    loop["self"] = loop
    flat = flatten(loop)
    assert flat["x"] == 1
    assert flat["self.self.x"] == 1


def test_yaml_config() -> None:
    params = config_params("conf/train.yaml", YAML_CONFIG)
    assert params == {
        "model.name": "resnet50",
        "model.layers": [64, 128, 256],
        "model.dropout": 0.1,
        "model.pretrained": True,
        "optimizer.lr": 3e-4,
        "optimizer.schedule": None,
        "data.path": "data/train.csv",
        "data.started": "2024-03-05",
        "augment.0.kind": "flip",
        "augment.0.p": 0.5,
        "augment.1.kind": "crop",
        "augment.1.size": 224,
    }
    encode(params)


def test_toml_config() -> None:
    assert config_params("params.TOML", TOML_CONFIG) == {
        "seed": 42,
        "train.epochs": 10,
        "train.lr": 1e-3,
        "train.devices": [0, 1],
        "train.early_stop.patience": 3,
        "train.early_stop.when": "1979-05-27T07:32:00+00:00",
    }


def test_json_config() -> None:
    data = json.dumps({"lr": 0.01, "model": {"depth": 4, "widths": [8, 16]}}).encode()
    assert config_params("hparams.json", data) == {
        "lr": 0.01,
        "model.depth": 4,
        "model.widths": [8, 16],
    }


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    "document",
    [
        {"features": list(range(17))},
        {"rows": [{"id": i} for i in range(100)]},
        _nested(9),
    ],
    ids=["long-list", "records", "deep"],
)
def test_data_like_json_is_not_a_config(document: dict[str, Any]) -> None:
    assert config_params("features.json", json.dumps(document).encode()) is None


def test_json_nested_eight_deep_is_still_a_config() -> None:
    assert config_params("c.json", json.dumps(_nested(8)).encode()) == {"k.k.k.k.k.k.k.leaf": 1}


def test_yaml_long_lists_are_skipped_not_rejected() -> None:
    data = b"ids: [" + b", ".join(b"%d" % i for i in range(40)) + b"]\nlr: 0.1\n"
    assert config_params("c.yaml", data) == {"lr": 0.1}


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("c.yaml", b"a: [1, 2\n"),
        ("c.yaml", b"- just\n- a list\n"),
        ("c.yaml", b"a: 1\n---\nb: 2\n"),
        ("c.yaml", b"plain scalar"),
        ("c.yaml", b""),
        ("c.yaml", b"a: \xff\xfe\n"),
        ("c.yml", b"? [a, b]\n: 1\n"),
        ("c.toml", b"a = \n"),
        ("c.toml", b"a = \xff\n"),
        ("c.json", b"{'single': 'quotes'}"),
        ("c.json", b"[1, 2, 3]"),
        ("c.json", b"[" * 100_000),
        ("c.json", b"{}" + b" " * (256 << 10)),
        ("c.txt", b"a: 1\n"),
        ("pyproject.toml", b"[project]\nname = 'x'\n"),
        ("metrics.json", b'{"acc": 0.9}'),
    ],
)
def test_not_a_config(path: str, data: bytes) -> None:
    assert config_params(path, data) is None


def test_too_many_leaves() -> None:
    data = json.dumps({f"k{i}": i for i in range(1001)}).encode()
    assert config_params("c.json", data) is None
    data = json.dumps({f"k{i}": i for i in range(1000)}).encode()
    assert config_params("c.json", data) is not None


def test_yaml_alias_bomb_is_rejected_quickly() -> None:
    lines = [b'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in "bcdefghij":
        prev = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [{', '.join(['*' + prev] * 9)}]".encode())
    assert config_params("bomb.yaml", b"\n".join(lines)) is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["python", "train.py", "--lr", "0.1", "--epochs", "10"], {"lr": 0.1, "epochs": 10}),
        (["python", "train.py", "--lr=1e-3", "--name=run a"], {"lr": 1e-3, "name": "run a"}),
        (["python", "train.py", "--verbose", "--seed", "1"], {"verbose": True, "seed": 1}),
        (["python", "train.py", "--seed", "1", "--verbose"], {"seed": 1, "verbose": True}),
        (["python", "train.py", "--fp16", "-v"], {"fp16": True}),
        (
            ["python", "train.py", "--shuffle", "false", "--ok", "TRUE"],
            {"shuffle": False, "ok": True},
        ),
        (["python", "train.py", "--learning-rate", "0.5"], {"learning_rate": 0.5}),
        (["python", "train.py", "--offset", "-2", "--scale", "-.5"], {"offset": -2, "scale": -0.5}),
        (["python", "train.py", "-n", "5", "data.csv"], {}),
        (["python", "train.py", "--a", "1", "--", "--b", "2"], {"a": 1}),
        (["python", "train.py", "--id", "007", "--big", "1" * 30], {"id": "007", "big": "1" * 30}),
        (["python", "train.py", "--x", "nan", "--y", "1e999"], {"x": "nan", "y": "1e999"}),
        (["python", "train.py", "--out", "-"], {"out": "-"}),
        (["python", "train.py", "--a", "1e5", "--b", "1."], {"a": 1e5, "b": 1.0}),
        (["python", "train.py", "--a", "1", "--a", "2"], {"a": 2}),
        (["python3.11", "-u", "-W", "ignore", "train.py", "--lr", "1"], {"lr": 1}),
        (["/usr/bin/python3", "-m", "pkg.train", "--lr", "1"], {"lr": 1}),
        (["python", "-mpkg.train", "--lr", "1"], {"lr": 1}),
        (["python", "-c", "import x", "--lr", "1"], {"lr": 1}),
        (["./train.sh", "--lr", "1"], {"lr": 1}),
        (
            ["torchrun", "--nproc-per-node=2", "train.py", "--lr", "1"],
            {"nproc_per_node": 2, "lr": 1},
        ),
        (["python", "train.py", "--", "a=1"], {}),
        (["python"], {}),
        ([], {}),
    ],
)
def test_argv_options(argv: list[str], expected: dict[str, Any]) -> None:
    line = argv_params(argv)
    assert line.options == expected
    assert line.overrides == {}


@pytest.mark.parametrize(
    ("args", "overrides"),
    [
        # Hydra
        (
            ["model.lr=0.1", "+trainer.gpus=2", "++seed=7"],
            {"model.lr": 0.1, "trainer.gpus": 2, "seed": 7},
        ),
        (["layers=[64,32]", "act=relu"], {"layers": [64, 32], "act": "relu"}),
        (["opt={lr: 0.1, betas: [0.9, 0.99]}"], {"opt.lr": 0.1, "opt.betas": [0.9, 0.99]}),
        (
            ["a=null", "b='007'", "c=007", "d=1e-3", "e=False", "f="],
            {"a": None, "b": "007", "c": "007", "d": 1e-3, "e": False, "f": ""},
        ),
        (["db=mysql,postgres", "tags=[a,b]"], {"db": "mysql,postgres", "tags": ["a", "b"]}),
        (["a.b=1", "a.c=2", "~a"], {}),
        # Kedro, --set, -p, -P, --param
        (
            ["run", "--params", "model_options.test_size=0.25,model_options.random_state=3"],
            {"model_options.test_size": 0.25, "model_options.random_state": 3},
        ),
        (["--params=x.y=[1,2],z=text"], {"x.y": [1, 2], "z": "text"}),
        (
            ["--set", "a.b=c", "-p", "lr=0.5", "-P", "alpha=1", "--param", "k=true"],
            {"a.b": "c", "lr": 0.5, "alpha": 1, "k": True},
        ),
        (["--a", "1", "--a", "2"], {}),
        (["lr=0.1", "lr=0.2"], {"lr": 0.2}),
    ],
)
def test_argv_overrides_keep_their_types(args: list[str], overrides: dict[str, Any]) -> None:
    assert argv_params(["python", "train.py", *args]).overrides == overrides


def test_an_option_before_an_override_is_a_flag_unless_it_only_carries_overrides() -> None:
    line = argv_params(["kedro", "run", "--verbose", "a=1", "--set", "b=2", "--params", "p.yaml"])
    assert line.options == {"verbose": True, "params": "p.yaml"}
    assert line.overrides == {"a": 1, "b": 2}


def test_overrides_replace_and_delete_config_values() -> None:
    line = argv_params(["python", "t.py", "model.lr=0.5", "~data", "+extra=1"])
    config = {"model.lr": 0.1, "model.depth": 4, "data.path": "x.csv", "data": "y", "datax": 1}
    assert line.override(config) == {"model.depth": 4, "datax": 1}
    assert line.deleted == {"data"}


@pytest.mark.parametrize(
    ("rel", "chosen"),
    [
        ("params.yaml", True),
        ("conf/base/parameters.yml", True),
        ("conf/base/parameters_data_science.yml", True),
        ("conf/base/globals.yml", True),
        ("config.toml", True),
        ("hparams.json", True),
        ("features.json", False),
        ("conf/base/catalog.yml", False),
        ("conf/base/catalog_01.yml", False),
        ("conf/base/catalog/companies.yml", False),
        ("conf/logging.yml", False),
        ("conf/prod/credentials_s3.yml", False),
        ("conf/base/spark.yml", False),
        ("mlruns/0/meta.yaml", False),
        (".github/workflows/ci.yml", False),
        ("data/raw.csv", False),
    ],
)
def test_default_params_files(rel: str, chosen: bool) -> None:
    assert ParamsFiles().chosen(rel) is chosen


def test_configured_params_files_replace_the_default_choice() -> None:
    files = ParamsFiles(include=("conf/*/parameters*", "*.json"), exclude=("*_dev.*",))
    assert files.chosen("conf/base/parameters.yml")
    assert files.chosen("model.json")  # named, so counted although JSON
    assert not files.chosen("params.yaml")  # not named
    assert not files.chosen("conf/base/parameters_dev.yml")  # excluded wins
    assert not files.chosen("conf/base/parameters.txt")  # never parsed: no config suffix
    assert ParamsFiles(include=("logging*",)).chosen("conf/logging.yml")
    assert not ParamsFiles(exclude=("PARAMS.*",)).chosen("sub/params.yaml")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("metrics.json", True),
        ("out/eval_metrics.yaml", True),
        ("METRICS.YML", True),
        ("train-metrics-final.json", True),
        ("metrics.csv", False),
        ("metric.json", False),
        ("params.yaml", False),
        ("metrics/summary.json", False),
    ],
)
def test_is_metrics_file(path: str, expected: bool) -> None:
    assert is_metrics_file(path) is expected


def test_metrics_from_json() -> None:
    data = json.dumps(
        {
            "acc": 0.91,
            "epochs": 10,
            "best": True,
            "name": "resnet",
            "val": {"loss": 0.3, "per_class": {"cat": 0.8}},
            "history": [0.5, 0.4],
            "loss": math.nan,
        }
    ).encode()
    found = metrics_from("metrics.json", data)
    assert math.isnan(found.pop("loss"))
    assert found == {"acc": 0.91, "epochs": 10, "val.loss": 0.3, "val.per_class.cat": 0.8}


def test_metrics_from_yaml() -> None:
    assert metrics_from("eval_metrics.yml", b"f1: 0.7\ntest:\n  auc: 0.95\n") == {
        "f1": 0.7,
        "test.auc": 0.95,
    }


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_metrics_from_unparsable(data: bytes) -> None:
    assert metrics_from("metrics.json", data) == {}
