"""`mlvc diff`: runs section by section, files and trees, through the real console script."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from mlvc import codec
from mlvc.lineage.diff import changes, diff, diff_runs
from mlvc.objects import Run
from mlvc.repo import Repo
from tests.conftest import Run as Mlvc
from tests.conftest import Template, build_pipeline, init_store

PYTHON = sys.executable


def _run(mlvc: Mlvc, *argv: str) -> str:
    return str(json.loads(mlvc("run", "--json", "--", *argv).stdout)["run_id"])


def _diff(mlvc: Mlvc, *args: str) -> dict[str, Any]:
    return dict(json.loads(mlvc("diff", *args, "--json").stdout))


def _show(mlvc: Mlvc, run_id: str) -> dict[str, Any]:
    return dict(json.loads(mlvc("show", run_id, "--json").stdout))


def _commit(workspace: Path) -> None:
    subprocess.run(["git", "add", "-A"], cwd=workspace, check=True)
    subprocess.run(["git", "commit", "-qm", "work"], cwd=workspace, check=True)


class Pipeline(NamedTuple):
    root: Path
    runs: dict[str, str]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory, ran_template: Template) -> Pipeline:
    """The example pipeline, then train and evaluate again with learning_rate 0.1 -> 0.5.

    Built once for the module (the runs take seconds), so before conftest's per-test home
    isolation: `build_pipeline` isolates the environment by hand, the same way.
    """
    built = build_pipeline(tmp_path_factory, ran_template, tag=False)
    params = built.workspace / "params.yaml"
    params.write_text(params.read_text().replace("learning_rate: 0.1", "learning_rate: 0.5"))
    runs = dict(built.runs)
    for stage in ("train", "evaluate"):
        result = built.mlvc("run", "--json", "--", PYTHON, f"{stage}.py")
        runs[f"{stage}2"] = json.loads(result.stdout)["run_id"]
    return Pipeline(built.workspace, runs)


class TestExamplePipeline:
    """Read-only diffs of the shared example pipeline: `mlvc` runs there."""

    @pytest.fixture
    def twice(self, example: Pipeline) -> dict[str, str]:
        return example.runs

    @pytest.fixture
    def mlvc(self, mlvc: Mlvc, example: Pipeline) -> Mlvc:
        def run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
            return mlvc(*args, cwd=example.root, **kwargs)

        return run

    def test_a_changed_param_shows_in_params_inputs_outputs_and_metrics(
        self, twice: dict[str, str], mlvc: Mlvc
    ) -> None:
        first, second = _show(mlvc, twice["train"]), _show(mlvc, twice["train2"])
        result = _diff(mlvc, twice["train"], twice["train2"])
        assert result["differ"] is True
        runs = result["runs"]
        assert runs["params"] == [
            {"key": "train.learning_rate", "state": "changed", "old": 0.1, "new": 0.5}
        ]
        assert runs["command"] == []
        assert [(c["path"], c["state"]) for c in runs["inputs"]] == [("params.yaml", "changed")]
        (params,) = runs["inputs"]
        assert params["old"]["id"] == first["inputs"]["params.yaml"]["id"]
        assert params["new"]["id"] == second["inputs"]["params.yaml"]["id"]
        model, train_metrics = runs["outputs"]
        assert (train_metrics["path"], train_metrics["state"]) == ("train_metrics.json", "changed")
        assert (model["path"], model["state"]) == ("model", "changed")
        assert model["old"]["id"] == first["outputs"]["model"]["id"]
        assert model["new"]["id"] == second["outputs"]["model"]["id"]
        assert [(f["path"], f["state"]) for f in model["files"]] == [
            ("model/model.json", "changed")
        ]
        assert [m["key"] for m in runs["metrics"]] == ["train_loss"]  # written by train.py
        assert runs["environment"] == {"fields": [], "packages": []}
        assert runs["resources"]["machine"] == []
        assert {c["key"] for c in runs["resources"]["usage"]} >= {"wall_seconds", "peak_rss_bytes"}
        assert "patch" in {c["key"] for c in runs["code"]["fields"]}  # params.yaml is tracked
        assert runs["code"]["stat"] is None  # same commit

        shown = mlvc("diff", twice["train"], twice["train2"], env={"COLUMNS": "200"}).stdout
        assert "train.learning_rate" in shown and "0.1" in shown and "0.5" in shown
        assert "params.yaml" in shown and "model/model.json" in shown
        assert "prepare.seed" not in shown  # unchanged params are listed only with --all

    def test_metric_deltas_between_the_evaluate_runs(
        self, twice: dict[str, str], mlvc: Mlvc
    ) -> None:
        old, new = (_show(mlvc, twice[s])["metrics"] for s in ("evaluate", "evaluate2"))
        runs = _diff(mlvc, twice["evaluate"], twice["evaluate2"])["runs"]
        metrics = {m["key"]: m for m in runs["metrics"]}
        assert "n_test" not in metrics  # unchanged
        assert set(metrics) == {k for k in old if old[k] != new[k]}
        for key, m in metrics.items():
            assert (m["state"], m["old"], m["new"]) == ("changed", old[key], new[key])
            assert m["delta"] == pytest.approx(new[key] - old[key])
            assert m["percent"] == pytest.approx((new[key] - old[key]) / abs(old[key]) * 100)
        assert [(c["path"], c["state"]) for c in runs["inputs"]] == [
            ("model/model.json", "changed")
        ]
        assert [c["path"] for c in runs["outputs"]] == ["metrics.json"]
        assert runs["params"] == []
        shown = mlvc("diff", twice["evaluate"], twice["evaluate2"], env={"COLUMNS": "200"}).stdout
        assert "accuracy" in shown and "%" in shown

    def test_exit_code_is_1_only_with_the_flag_when_runs_differ(
        self, twice: dict[str, str], mlvc: Mlvc
    ) -> None:
        assert mlvc("diff", twice["train"], twice["train2"]).returncode == 0
        differing = mlvc("diff", "--exit-code", twice["train"], twice["train2"], check=False)
        assert differing.returncode == 1 and differing.stderr == ""
        same = mlvc("diff", "--exit-code", twice["train"], twice["train"], check=False)
        assert same.returncode == 0
        assert "no differences" in same.stdout

    def test_all_lists_unchanged_params(self, twice: dict[str, str], mlvc: Mlvc) -> None:
        params = _diff(mlvc, "--all", twice["train"], twice["train2"])["runs"]["params"]
        states = {p["key"]: p["state"] for p in params}
        assert states["train.learning_rate"] == "changed"
        assert states["prepare.seed"] == states["train.epochs"] == "unchanged"
        shown = mlvc(
            "diff", "--all", twice["train"], twice["train2"], env={"COLUMNS": "200"}
        ).stdout
        assert "prepare.seed" in shown

    def test_content_shows_text_diffs_of_changed_files_and_patches(
        self, twice: dict[str, str], mlvc: Mlvc
    ) -> None:
        runs = _diff(mlvc, "--content", twice["train"], twice["train2"])["runs"]
        (params,) = runs["inputs"]
        assert "-  learning_rate: 0.1" in params["patch"]
        assert "+  learning_rate: 0.5" in params["patch"]
        assert params["patch"].startswith("--- a/params.yaml\n+++ b/params.yaml\n@@")
        (inner,) = runs["outputs"][0]["files"]
        assert inner["patch"].startswith("--- a/model/model.json")
        assert "+  learning_rate: 0.5" in runs["code"]["patch_diff"]  # the uncommitted patches
        plain = _diff(mlvc, twice["train"], twice["train2"])["runs"]
        assert plain["inputs"][0]["patch"] is None and plain["code"]["patch_diff"] is None
        shown = mlvc("diff", "--content", twice["train"], twice["train2"]).stdout
        assert "+  learning_rate: 0.5" in shown

    def test_file_against_file_always_shows_a_text_diff(
        self, twice: dict[str, str], mlvc: Mlvc
    ) -> None:
        a, b = f"params.yaml@{twice['train']}", f"params.yaml@{twice['train2']}"
        result = _diff(mlvc, a, b)
        assert (result["a"]["kind"], result["b"]["kind"]) == ("file", "file")
        assert result["runs"] is None and result["differ"] is True
        change = result["content"]
        assert (change["path"], change["state"]) == ("params.yaml", "changed")
        assert change["patch"].splitlines()[:2] == [f"--- {a}", f"+++ {b}"]
        assert "+  learning_rate: 0.5" in change["patch"]
        by_id = _diff(mlvc, change["old"]["id"], change["new"]["id"][:12])["content"]
        assert by_id["path"] == "" and by_id["patch"].count("learning_rate") == 2
        shown = mlvc("diff", "--exit-code", a, b, check=False)
        assert shown.returncode == 1 and "+  learning_rate: 0.5" in shown.stdout
        same = mlvc("diff", "--exit-code", a, f"params.yaml@{twice['prepare']}", check=False)
        assert same.returncode == 0 and "no differences" in same.stdout

    def test_mixing_a_run_and_a_path_is_an_error(self, twice: dict[str, str], mlvc: Mlvc) -> None:
        mixed = mlvc("diff", twice["train"], f"params.yaml@{twice['train']}", check=False)
        assert mixed.returncode == 1
        assert mixed.stderr.startswith("error: cannot compare run ")
        assert "params.yaml@" in mixed.stderr
        unknown = mlvc("diff", twice["train"], "no-such-thing", check=False)
        assert unknown.returncode == 1 and unknown.stderr.startswith("error: ")
        missing = mlvc("diff", f"nope.txt@{twice['train']}", twice["train"], check=False)
        assert missing.returncode == 1 and "nope.txt" in missing.stderr


def test_identical_runs_have_no_differences(workspace: Path, mlvc: Mlvc) -> None:
    (workspace / "make.py").write_text(
        "from pathlib import Path\nPath('out.csv').write_text(Path('in.csv').read_text() * 2)\n"
    )
    _commit(workspace)
    (workspace / "in.csv").write_text("a,b\n1,2\n")  # untracked, not source: not in the patch
    init_store(workspace)
    a, b = (_run(mlvc, PYTHON, "make.py") for _ in range(2))
    assert a != b
    quiet = mlvc("diff", "--exit-code", a, b, check=False)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "no differences" in quiet.stdout
    result = _diff(mlvc, a, b)
    assert result["differ"] is False
    empty_code = {"fields": [], "scripts": [], "stat": None, "patch_diff": None}
    assert result["runs"] == {
        "command": [],
        "code": empty_code,
        "params": [],
        "inputs": [],
        "outputs": [],
        "metrics": [],
        "environment": {"fields": [], "packages": []},
        "resources": {"machine": [], "usage": []},
    }


def test_git_diff_stat_between_commits_and_without_git(workspace: Path, mlvc: Mlvc) -> None:
    script = workspace / "step.py"
    script.write_text("print('one')\n")
    _commit(workspace)
    init_store(workspace)
    a = _run(mlvc, PYTHON, "step.py")
    script.write_text("print('two')\nprint('three')\n")
    _commit(workspace)
    b = _run(mlvc, PYTHON, "step.py")
    code = _diff(mlvc, a, b)["runs"]["code"]
    assert [c["key"] for c in code["fields"]] == ["commit"]
    assert "step.py" in code["stat"] and "1 file changed" in code["stat"]
    assert [(s["key"], s["state"]) for s in code["scripts"]] == [("step.py", "changed")]
    assert "step.py" in mlvc("diff", a, b).stdout
    repo = Repo.discover(workspace)
    try:
        without_git = diff(repo, a, b, env={"PATH": str(workspace / "nowhere")})
        not_asked = diff(repo, a, b)
    finally:
        repo.close()
    assert without_git.runs is not None and not_asked.runs is not None
    assert without_git.runs.code.stat is None and not_asked.runs.code.stat is None
    assert without_git.differ


def _snapshot(mlvc: Mlvc, path: str) -> str:
    return str(json.loads(mlvc("add", path, "--json").stdout)["run_id"])


def test_tree_against_tree_lists_files_inside(workspace: Path, mlvc: Mlvc) -> None:
    init_store(workspace)
    data = workspace / "data"
    for rel, text in {
        "a.txt": "alpha\n",
        "sub/b.txt": "beta\n",
        "sub/gone/x.txt": "x\n",
        "same/deep/s.txt": "same\n",
        "flip": "a file, then a directory\n",
    }.items():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_text(text)
    first = _snapshot(mlvc, "data")
    (data / "a.txt").write_text("alpha\nand more\n")
    (data / "sub/b.txt").unlink()
    shutil.rmtree(data / "sub/gone")
    (data / "sub/c.txt").write_text("gamma\n")
    (data / "new/inner").mkdir(parents=True)
    (data / "new/inner/n.txt").write_text("n\n")
    (data / "flip").unlink()
    (data / "flip").mkdir()
    (data / "flip/f.txt").write_text("f\n")
    second = _snapshot(mlvc, "data")

    result = _diff(mlvc, f"data@{first}", f"data@{second}")
    assert (result["a"]["kind"], result["b"]["kind"]) == ("tree", "tree")
    files = [(f["path"], f["state"]) for f in result["content"]["files"]]
    assert files == [
        ("data/a.txt", "changed"),
        ("data/flip", "removed"),
        ("data/flip/f.txt", "added"),
        ("data/new/inner/n.txt", "added"),
        ("data/sub/b.txt", "removed"),
        ("data/sub/c.txt", "added"),
        ("data/sub/gone/x.txt", "removed"),
    ]
    assert all(f["patch"] is None for f in result["content"]["files"])  # no --content
    with_content = _diff(mlvc, "--content", f"data@{first}", f"data@{second}")["content"]
    assert "+and more" in with_content["files"][0]["patch"]
    ids = (result["content"]["old"]["id"], result["content"]["new"]["id"])
    by_id = _diff(mlvc, *ids)["content"]
    assert [f["path"] for f in by_id["files"]][:2] == ["a.txt", "flip"]
    shown = mlvc("diff", f"data@{first}", f"data@{second}", env={"COLUMNS": "200"}).stdout
    assert "data/sub/gone/x.txt" in shown and "data/new/inner/n.txt" in shown
    runs = _diff(mlvc, first, second)["runs"]
    assert [f["path"] for f in runs["outputs"][0]["files"]] == [p for p, _ in files]


def test_values_compare_by_type_and_nan_equals_itself() -> None:
    found = changes(
        {"a": 1, "b": 1.0, "c": math.nan, "d": None}, {"a": True, "b": 1.0, "c": math.nan}
    )
    assert [(c.key, c.state) for c in found] == [("a", "changed"), ("d", "removed")]
    assert found[1].old is None  # a removed None value: the state says which


def _run_object(**sections: Any) -> Run:
    return Run(
        kind="run",
        started="2026-01-01T00:00:00Z",
        ended="2026-01-01T00:00:01Z",
        status="ok",
        command=("python", "x.py"),
        exit_code=0,
        **sections,
    )


def test_environment_resources_and_metrics_sections(repo: Repo) -> None:
    old_dists = repo.store.put_bytes(codec.encode([["numpy", "1.26.0"], ["torch", "2.1.0"]]))
    new_dists = repo.store.put_bytes(codec.encode([["numpy", "2.0.0"], ["pandas", "2.2.0"]]))
    repo.store.commit()
    old = _run_object(
        environment={
            "python": {"version": "3.11.7"},
            "distributions": old_dists,
            "platform": {"os": "Linux"},
            "cuda": {"driver": "535", "cuda": "12.2"},
        },
        resources={"host": "a", "gpus": [], "wall_seconds": 1.0, "peak_rss_bytes": 10},
        metrics={"acc": 0.8, "loss": 0.0, "gone": 1, "label": "x"},
    )
    new = _run_object(
        environment={
            "python": {"version": "3.12.1"},
            "distributions": new_dists,
            "platform": {"os": "Linux"},
        },
        resources={
            "host": "b",
            "gpus": [{"name": "A100"}],
            "wall_seconds": 2.0,
            "peak_rss_bytes": 10,
        },
        metrics={"acc": 0.85, "loss": 0.5, "new": 2, "label": "y"},
    )
    sections = diff_runs(repo, old, new)
    env = sections.environment
    assert [(c.key, c.state) for c in env.fields] == [
        ("cuda.cuda", "removed"),
        ("cuda.driver", "removed"),
        ("python.version", "changed"),
    ]
    assert [(c.key, c.state, c.old, c.new) for c in env.packages] == [
        ("numpy", "changed", "1.26.0", "2.0.0"),
        ("pandas", "added", None, "2.2.0"),
        ("torch", "removed", "2.1.0", None),
    ]
    assert [(c.key, c.old, c.new) for c in sections.resources.machine] == [
        ("gpus", [], [{"name": "A100"}]),
        ("host", "a", "b"),
    ]
    assert [(c.key, c.state) for c in sections.resources.usage] == [
        ("peak_rss_bytes", "unchanged"),
        ("wall_seconds", "changed"),
    ]
    metrics = {m.key: m for m in sections.metrics}
    assert (metrics["acc"].delta, metrics["acc"].percent) == (0.05, 6.25)
    assert (metrics["loss"].delta, metrics["loss"].percent) == (0.5, None)  # from zero
    assert (metrics["label"].state, metrics["label"].delta) == ("changed", None)
    assert (metrics["gone"].state, metrics["new"].state) == ("removed", "added")
    assert sections.differ
    same = diff_runs(repo, old, old)
    assert not same.differ and same.resources.usage == ()


def test_runs_that_differ_only_in_usage_do_not_differ(repo: Repo) -> None:
    old = _run_object(resources={"host": "a", "wall_seconds": 1.0})
    new = _run_object(resources={"host": "a", "wall_seconds": 9.0})
    sections = diff_runs(repo, old, new)
    assert not sections.differ and sections.resources.usage == ()
