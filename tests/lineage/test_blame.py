"""`mlvc blame`: provenance down to snapshots, --depth, --lines and --keys, on real runs."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlvc.ids import ObjectId
from mlvc.lineage.blame import blame
from mlvc.lineage.graph import RunCache
from mlvc.objects import PathRecord, Run
from mlvc.recorder import IndexRows, record
from mlvc.repo import Repo
from tests.conftest import MLVC, PYTHON, STAGES, Pipeline, Template, build_pipeline, init_store
from tests.conftest import Run as Mlvc


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, ran_template: Template) -> Pipeline:
    return build_pipeline(tmp_path_factory, ran_template)


def _blame(pipeline: Pipeline, *args: str, cwd: Path | None = None) -> dict[str, Any]:
    return dict(json.loads(pipeline.mlvc("blame", *args, "--json", cwd=cwd).stdout))


def _producers(result: dict[str, Any]) -> dict[tuple[str, str], str | None]:
    """(consumer run, input path) -> producer run."""
    return {(e["run"], e["path"]): e["producer"] for e in result["edges"]}


# -- provenance ---------------------------------------------------------------------


def test_blame_walks_the_pipeline_down_to_the_raw_snapshot(pipeline: Pipeline) -> None:
    runs = pipeline.runs
    result = _blame(pipeline, "metrics.json")
    target = result["target"]
    assert target["path"] == "metrics.json" and target["source"] == "workspace"
    assert target["producer"] == runs["evaluate"]
    nodes = {n["id"]: n for n in result["nodes"]}
    assert set(nodes) == {runs[s] for s in ("raw", *STAGES)}
    producers = _producers(result)
    chain = [
        ("evaluate", "model/model.json", "train"),
        ("train", "data/features/train.json", "featurize"),
        ("featurize", "data/prepared/train.csv", "prepare"),
        ("prepare", "data/raw/points.csv", "raw"),
    ]
    for consumer, path, producer in chain:
        assert producers[(runs[consumer], path)] == runs[producer]
    assert producers[(runs["evaluate"], "data/features/test.json")] == runs["featurize"]
    # params.yaml was never added: an input with no producer, where the walk stops
    assert producers[(runs["prepare"], "params.yaml")] is None
    for stage in STAGES:
        node = nodes[runs[stage]]
        assert node["kind"] == "run" and node["command"][-1] == f"{stage}.py"
        assert node["owner"]["user"] and node["started"] and node["commit"]
    snapshot = nodes[runs["raw"]]
    assert snapshot["kind"] == "snapshot" and snapshot["command"] == ["mlvc", "add", "data/raw"]
    assert snapshot["input_count"] == 0
    assert [nodes[runs[s]]["level"] for s in ("evaluate", "train", "prepare", "raw")] == [
        1,
        2,
        3,
        4,
    ]
    assert nodes[runs["train"]]["tags"] == ["prod"]


def test_shared_ancestors_appear_once(pipeline: Pipeline) -> None:
    runs = pipeline.runs
    result = _blame(pipeline, "metrics.json")
    ids = [n["id"] for n in result["nodes"]]
    assert len(ids) == len(set(ids))
    # featurize made inputs of both train and evaluate; prepare made two of its inputs
    producers = Counter(e["producer"] for e in result["edges"])
    assert producers[runs["featurize"]] == 2 and producers[runs["prepare"]] == 2
    text = pipeline.mlvc("blame", "metrics.json").stdout
    short = {stage: runs[stage][:12] for stage in runs}
    assert text.splitlines()[0].startswith("metrics.json")
    assert text.count(f"run {short['featurize']}") == 2
    assert text.count("(see above)") == 2  # featurize once more, prepare once more
    assert text.count(f"snapshot {short['raw']}") == 1
    assert "no recorded producer" in text
    assert "[prod]" in text


def test_depth_stops_the_walk(pipeline: Pipeline) -> None:
    runs = pipeline.runs
    result = _blame(pipeline, "metrics.json", "--depth", "1")
    expanded = [n["id"] for n in result["nodes"] if n["expanded"]]
    named = {n["id"] for n in result["nodes"] if not n["expanded"]}
    assert expanded == [runs["evaluate"]]
    assert named == {runs["train"], runs["featurize"]}
    assert {e["run"] for e in result["edges"]} == {runs["evaluate"]}
    assert result["depth"] == 1
    deeper = _blame(pipeline, "metrics.json", "--depth", "2")
    assert {n["id"] for n in deeper["nodes"]} == {runs[s] for s in STAGES}
    text = pipeline.mlvc("blame", "metrics.json", "--depth", "1").stdout
    assert "inputs not followed (--depth 1)" in text and runs["prepare"][:12] not in text
    bad = pipeline.mlvc("blame", "metrics.json", "--depth", "0", check=False)
    assert bad.returncode == 1 and "--depth must be at least 1" in bad.stderr


def test_path_at_run_content_id_and_subdirectory(pipeline: Pipeline) -> None:
    runs = pipeline.runs
    # as featurize read it: made by prepare
    at = _blame(pipeline, f"data/prepared/train.csv@{runs['featurize'][:10]}")
    assert at["target"]["source"] == "run" and at["target"]["producer"] == runs["prepare"]
    by_id = _blame(pipeline, at["target"]["id"][:16])
    assert by_id["target"]["path"] == "data/prepared/train.csv"
    assert by_id["target"]["producer"] == runs["prepare"]
    inside = _blame(pipeline, "train.csv", cwd=pipeline.workspace / "data" / "prepared")
    assert inside["target"]["path"] == "data/prepared/train.csv"
    assert inside["nodes"] == at["nodes"]
    tree = _blame(pipeline, "model@")
    assert tree["target"]["kind"] == "tree" and tree["target"]["producer"] == runs["train"]
    run = _blame(pipeline, runs["train"][:12])
    assert run["target"]["kind"] == "run" and run["nodes"][0]["id"] == runs["train"]


def test_content_no_run_produced_is_an_error(pipeline: Pipeline) -> None:
    unrecorded = pipeline.mlvc("blame", "params.yaml", check=False)
    assert unrecorded.returncode == 1
    assert "error: no recorded run produced params.yaml" in unrecorded.stderr
    assert "hint: record it with 'mlvc add params.yaml'" in unrecorded.stderr
    missing = pipeline.mlvc("blame", "no-such-file.txt", check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    directory = pipeline.mlvc("blame", "data", check=False)
    assert directory.returncode == 1 and "is a directory" in directory.stderr


def test_a_modified_file_says_so(workspace: Path, mlvc: Mlvc) -> None:
    init_store(workspace)
    (workspace / "notes.txt").write_text("one\n")
    mlvc("add", "notes.txt")
    (workspace / "notes.txt").write_text("one\ntwo\n")
    result = mlvc("blame", "notes.txt", check=False)
    assert result.returncode == 1
    assert "error: no recorded run produced the current content of notes.txt" in result.stderr
    assert "modified since its last recorded version" in result.stderr
    assert "hint: 'mlvc blame notes.txt@' blames the recorded version" in result.stderr
    recorded = json.loads(mlvc("blame", "notes.txt@", "--json").stdout)
    assert recorded["nodes"][0]["kind"] == "snapshot"


# -- lines and keys -----------------------------------------------------------------


def _run(mlvc: Mlvc, code: str) -> str:
    return str(json.loads(mlvc("run", "--json", "--", PYTHON, "-c", code).stdout)["run_id"])


def test_lines_are_credited_to_the_run_that_introduced_them(workspace: Path, mlvc: Mlvc) -> None:
    init_store(workspace)
    edit = "p = 'config.yaml'; t = open(p).read(); open(p, 'w').write({})"
    first = _run(mlvc, "open('config.yaml', 'w').write('a: 1\\nb: 2\\n')")
    second = _run(mlvc, edit.format("t + 'c: 3\\n'"))
    third = _run(mlvc, edit.format("t.replace('a: 1', 'a: 10')"))
    assert (workspace / "config.yaml").read_text() == "a: 10\nb: 2\nc: 3\n"
    result = json.loads(mlvc("blame", "config.yaml", "--lines", "--json").stdout)
    assert result["versions"] == 3
    assert [(line["text"], line["run"]) for line in result["lines"]] == [
        ("a: 10", third),
        ("b: 2", first),
        ("c: 3", second),
    ]
    assert set(result["runs"]) == {first, second, third}
    assert result["runs"][second]["command"][-2:] == ["-c", edit.format("t + 'c: 3\\n'")]
    # an older version is blamed against its own history only
    older = json.loads(mlvc("blame", f"config.yaml@{second}", "--lines", "--json").stdout)
    assert [line["run"] for line in older["lines"]] == [first, first, second]
    text = mlvc("blame", "config.yaml", "--lines").stdout.splitlines()
    assert text[0].startswith("config.yaml") and "3 versions" in text[0]
    assert text[1].startswith(third[:12]) and text[1].endswith("│ a: 10")
    assert text[2].startswith(first[:12]) and text[3].startswith(second[:12])


def test_lines_across_snapshots_with_inserts_and_edits(workspace: Path, mlvc: Mlvc) -> None:
    init_store(workspace)
    notes = workspace / "notes.txt"
    ids = []
    for text in ("one\ntwo\nthree\n", "zero\none\ntwo\nthree\n", "zero\none\n2\nthree\nfour"):
        notes.write_text(text)
        ids.append(json.loads(mlvc("add", "notes.txt", "--json").stdout)["run_id"])
    lines = json.loads(mlvc("blame", "notes.txt", "--lines", "--json").stdout)["lines"]
    v1, v2, v3 = ids
    assert [(b["line"], b["text"], b["run"]) for b in lines] == [
        (1, "zero", v2),
        (2, "one", v1),
        (3, "2", v3),
        (4, "three", v1),
        (5, "four", v3),
    ]


def test_keys_are_credited_to_the_version_that_set_them(workspace: Path, mlvc: Mlvc) -> None:
    init_store(workspace)
    params = workspace / "params.yaml"
    versions = (
        "name: m\nlr: 0.1\nepochs: 10\nseed: 1\n",
        "name: m\nlr: 0.1\nepochs: 20\nseed: 2\nl2: 0.01\n",
        "name: m\nlr: 0.5\nepochs: 20\nseed: 1\nl2: 0.01\n",
    )
    ids = []
    for text in versions:
        params.write_text(text)
        ids.append(json.loads(mlvc("add", "params.yaml", "--json").stdout)["run_id"])
    v1, v2, v3 = ids
    result = json.loads(mlvc("blame", "params.yaml", "--keys", "--json").stdout)
    credited = {k["key"]: (k["value"], k["run"]) for k in result["keys"]}
    assert credited == {
        "name": ("m", v1),
        "lr": (0.5, v3),
        "epochs": (20, v2),
        "seed": (1, v3),  # 1 again, but after a 2: set anew by v3
        "l2": (0.01, v2),
    }
    assert set(result["runs"]) == {v1, v2, v3}
    table = mlvc("blame", "params.yaml", "--keys").stdout
    assert f"snapshot {v2[:12]}" in table and "epochs" in table


def test_keys_of_a_git_tracked_params_file_come_from_the_runs_that_read_it(
    workspace: Path, mlvc: Mlvc
) -> None:
    """No run produced params.yaml (git tracks it): its versions are what runs read."""
    mlvc("init")
    params = workspace / "params.yaml"
    read = "import yaml; yaml.safe_load(open('params.yaml'))"
    ids = []
    for text in ("lr: 0.1\nn: 5\n", "lr: 0.1\nn: 5\n", "lr: 0.5\nn: 5\n"):
        params.write_text(text)
        subprocess.run(["git", "add", "-A"], cwd=workspace, check=True)
        subprocess.run(
            ["git", "commit", "-qm", "params", "--allow-empty"], cwd=workspace, check=True
        )
        ids.append(_run(mlvc, read))
    first, _, third = ids
    result = json.loads(mlvc("blame", "params.yaml", "--keys", "--json").stdout)
    assert result["versions"] == 2
    assert [(k["key"], k["value"], k["run"]) for k in result["keys"]] == [
        ("lr", 0.5, third),
        ("n", 5, first),
    ]
    older = json.loads(mlvc("blame", f"params.yaml@{first}", "--keys", "--json").stdout)
    assert [k["run"] for k in older["keys"]] == [first, first]
    lines = json.loads(mlvc("blame", "params.yaml", "--lines", "--json").stdout)["lines"]
    assert [line["run"] for line in lines] == [third, first]
    params.write_text("lr: 0.9\nn: 5\n")
    unread = mlvc("blame", "params.yaml", "--keys", check=False)
    assert unread.returncode == 1
    assert "no recorded run read the current content of params.yaml" in unread.stderr
    assert f"params.yaml@{third[:12]}" in unread.stderr


def test_keys_of_a_metrics_file(workspace: Path, mlvc: Mlvc) -> None:
    init_store(workspace)
    write = "import json; json.dump({}, open('metrics.json', 'w'))"
    first = _run(mlvc, write.format("{'acc': 0.5, 'n': 10, 'loss': {'train': 0.3}}"))
    second = _run(mlvc, write.format("{'acc': 0.7, 'n': 10, 'loss': {'train': 0.3}}"))
    result = json.loads(mlvc("blame", "metrics.json", "--keys", "--json").stdout)
    assert [(k["key"], k["value"], k["run"]) for k in result["keys"]] == [
        ("acc", 0.7, second),
        ("loss.train", 0.3, first),
        ("n", 10, first),
    ]


def test_lines_and_keys_refuse_what_they_cannot_read(workspace: Path, mlvc: Mlvc) -> None:
    init_store(workspace)
    (workspace / "blob.bin").write_bytes(b"\x00\x01\x02")
    (workspace / "notes.txt").write_text("plain text\n")
    mlvc("add", "blob.bin", "notes.txt")
    binary = mlvc("blame", "blob.bin", "--lines", check=False)
    assert binary.returncode == 1 and "is not a text file" in binary.stderr
    keys = mlvc("blame", "notes.txt", "--keys", check=False)
    assert keys.returncode == 1 and "has no keys" in keys.stderr
    both = mlvc("blame", "notes.txt", "--keys", "--lines", check=False)
    assert both.returncode == 1 and "cannot be combined" in both.stderr


# -- a deep chain, built with the recorder ------------------------------------------


class CountingCache(RunCache):
    def __init__(self, repo: Repo) -> None:
        super().__init__(repo)
        self.loads: Counter[bytes] = Counter()

    def load(self, oid: bytes) -> Run | None:
        self.loads[oid] += 1
        return super().load(oid)


def make_chain(repo: Repo, length: int, missing_root: bool = False) -> list[ObjectId]:
    """A snapshot of f0.txt, then `length` runs each reading f{i-1}.txt and writing f{i}.txt
    (one more line each); the last file is left in the workspace. With `missing_root` the
    first run names a producer the store does not hold."""
    ids: list[ObjectId] = []
    previous: PathRecord | None = None
    text = ""
    for i in range(length + 1):
        text += f"line {i}\n"
        data = text.encode()
        oid = repo.store.put_bytes(data)
        inputs = {} if previous is None else {f"f{i - 1}.txt": previous}
        if i == 1 and missing_root:
            inputs = {"f0.txt": PathRecord(oid, "file", 1, ObjectId(b"\x01" * 32))}
        run = Run(
            kind="snapshot" if i == 0 else "run",
            started=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000000Z",
            ended=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.500000Z",
            status="ok",
            command=("mlvc", "add", "f0.txt") if i == 0 else ("step", str(i)),
            inputs=inputs,
            outputs={f"f{i}.txt": PathRecord(oid, "file", len(data))},
            owner={"user": "tester", "host": "box"},
        )
        ids.append(record(repo, run, IndexRows()))
        previous = PathRecord(oid, "file", len(data), ids[-1])
    (repo.root / f"f{length}.txt").write_bytes(data)
    return ids


@pytest.fixture
def chain(repo: Repo) -> Iterator[list[ObjectId]]:
    yield make_chain(repo, 50)


def test_a_deep_chain_loads_each_run_once(repo: Repo, chain: list[ObjectId]) -> None:
    cache = CountingCache(repo)
    result = blame(repo, "f50.txt", repo.root, runs=cache)
    assert [n.info.id for n in result.graph.nodes] == chain[::-1]
    assert [n.level for n in result.graph.nodes] == list(range(1, 52))
    assert result.graph.nodes[-1].info.kind == "snapshot"
    assert set(cache.loads.values()) == {1} and len(cache.loads) == 51
    shallow = CountingCache(repo)
    cut = blame(repo, "f50.txt", repo.root, depth=3, runs=shallow)
    assert [n.expanded for n in cut.graph.nodes] == [True, True, True, False]
    assert len(shallow.loads) == 4  # three levels and the producers they name


def test_a_deep_chain_from_the_cli(workspace: Path, repo: Repo, chain: list[ObjectId]) -> None:
    def blame_cli(*args: str) -> str:
        return subprocess.run(
            [MLVC, "blame", *args], cwd=workspace, capture_output=True, text=True, check=True
        ).stdout

    text = blame_cli("f50.txt")
    assert text.startswith("f50.txt")
    # a 50-run chain does not nest 50 deep: it continues in trees of its own below
    assert text.count("(continued below)") >= 2
    assert max(len(line) - len(line.lstrip(" │└├─")) for line in text.splitlines()) <= 70
    assert all(oid.hex()[:12] in text for oid in chain)
    assert len(json.loads(blame_cli("f50.txt", "--json"))["nodes"]) == 51
    assert len(json.loads(blame_cli("f50.txt", "--lines", "--json"))["lines"]) == 51


def test_a_producer_missing_from_the_store(repo: Repo) -> None:
    ids = make_chain(repo, 2, missing_root=True)
    result = blame(repo, "f2.txt", repo.root)
    kinds = {n.info.id: n.info.kind for n in result.graph.nodes}
    assert kinds == {ids[2]: "run", ids[1]: "run", b"\x01" * 32: "missing"}
