"""`mlvc gc` and `mlvc forget`: what nothing needs is reclaimed, what anything needs is
kept, and commands running at the same time are never harmed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MLVC, Pipeline, Template, build_pipeline
from tests.store.test_runlog import _plant_uncommitted_run


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, ran_template: Template) -> Pipeline:
    made = build_pipeline(tmp_path_factory, ran_template)
    params = made.workspace / "params.yaml"
    params.write_text(params.read_text().replace("learning_rate: 0.1", "learning_rate: 0.5"))
    for stage in ("train", "evaluate"):
        result = made.mlvc("run", "--json", "--", sys.executable, f"{stage}.py")
        made.runs[f"{stage}2"] = json.loads(result.stdout)["run_id"]
    return made


def _mlvc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([MLVC, *args], cwd=cwd, capture_output=True, text=True)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _json(cwd: Path, *args: str) -> Any:
    result = _mlvc(cwd, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _run_ids(cwd: Path) -> list[str]:
    return [r["id"] for r in _json(cwd, "log")["runs"]]


def _age(store: Path) -> None:
    """Make every pack look three hours old: past the default grace period."""
    old = time.time() - 3 * 3600
    for pack in (store / ".mlvc" / "packs").glob("*.pack"):
        os.utime(pack, (old, old))


def test_a_store_in_use_has_nothing_to_collect(store: Path) -> None:
    _age(store)
    assert _json(store, "gc")["objects"] == 0
    assert _json(store, "gc", "--apply")["objects"] == 0


def test_forgotten_runs_are_collected_and_stay_forgotten(built: Pipeline, store: Path) -> None:
    first_train = built.runs["train"]
    keep = [r for r in _run_ids(store) if r not in (first_train, built.runs["evaluate"])]
    refused = _mlvc(store, "forget", first_train, built.runs["evaluate"])
    assert refused.returncode == 1 and "tagged (prod)" in refused.stderr
    assert len(_run_ids(store)) == len(keep) + 2  # all or nothing
    _mlvc(store, "tag", "-d", "prod")
    assert _mlvc(store, "forget", first_train, built.runs["evaluate"]).returncode == 0
    assert _run_ids(store) == keep

    _age(store)
    dry = _json(store, "gc")
    assert dry["objects"] > 0 and dry["applied"] is False
    applied = _json(store, "gc", "--apply")
    assert (applied["objects"], applied["bytes"]) == (dry["objects"], dry["bytes"])
    assert _json(store, "gc")["objects"] == 0
    assert _json(store, "fsck", "--full")["clean"]
    assert _run_ids(store) == keep
    rebuilt = _json(store, "index", "rebuild")
    assert rebuilt["uncommitted"] == [] and _run_ids(store) == keep
    for run in keep:  # everything kept still checks out
        assert _mlvc(store, "checkout", run, "--force").returncode == 0


def test_an_uncommitted_run_is_collected_only_past_the_grace_period(
    built: Pipeline, store: Path
) -> None:
    orphan = _plant_uncommitted_run(store, built.runs["raw"])
    assert _json(store, "gc", "--apply")["young_packs"] >= 1  # just written: left alone
    packs = store / ".mlvc" / "packs"
    holding = [p for p in packs.glob("*.pack") if orphan in p.read_bytes()]
    assert holding
    _age(store)
    freed = _json(store, "gc", "--apply")
    assert freed["objects"] == 1 and not any(p.exists() for p in holding)
    assert _json(store, "fsck", "--full")["clean"]


def test_eight_runs_at_once_while_gc_applies(store: Path) -> None:
    """Eight `mlvc run` in one workspace while `gc --apply --grace 0` runs over and over:
    every run is recorded, the store checks clean, and nobody fails on a lock."""
    _age(store)
    before = set(_run_ids(store))
    script = store / "step.py"
    script.write_text(
        "import sys\n"
        "data = open('data/raw/points.csv').read()\n"
        "open(f'out{sys.argv[1]}.txt', 'w').write(sys.argv[1] + str(len(data)))\n"
    )
    runs = [
        subprocess.Popen(
            [MLVC, "run", "--", sys.executable, "step.py", str(i)],
            cwd=store,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    collections = 0
    while any(r.poll() is None for r in runs) or collections < 2:
        result = _mlvc(store, "gc", "--apply", "--grace", "0")
        assert result.returncode == 0, result.stderr
        collections += 1
    for r in runs:
        _, err = r.communicate()
        assert r.returncode == 0, err
    assert len(set(_run_ids(store)) - before) == 8
    assert _json(store, "fsck", "--full")["clean"]
    for i in range(8):
        assert (store / f"out{i}.txt").exists()


def test_purge_removes_the_bytes_and_leaves_a_tombstone(built: Pipeline, store: Path) -> None:
    raw = built.runs["raw"]
    content = (store / "data" / "raw" / "points.csv").read_bytes()
    result = _json(store, "purge", f"data/raw/points.csv@{raw}", "-m", "licence withdrawn")
    assert result["removed"] >= 1 and result["packs_rewritten"] >= 1
    for pack in (store / ".mlvc" / "packs").glob("*.pack"):
        assert content[:4096] not in pack.read_bytes()  # stored raw or zstd: check both ways
    shown = _mlvc(store, "show", raw)
    assert shown.returncode == 0  # the run still loads
    read = _mlvc(store, "cat-object", result["id"])
    assert (
        read.returncode == 1 and "was purged" in read.stderr and "licence withdrawn" in read.stderr
    )
    (store / "data" / "raw" / "points.csv").unlink()
    back = _mlvc(store, "checkout", raw)
    assert back.returncode == 1 and "was purged" in back.stderr
    report = _json(store, "fsck", "--full")
    assert report["clean"] and "purged" in {p["kind"] for p in report["problems"]}


def test_gc_inside_a_run_refuses_instead_of_waiting_for_ever(store: Path) -> None:
    result = subprocess.run(
        [MLVC, "run", "--", MLVC, "gc", "--apply"],
        cwd=store,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "cannot run inside mlvc run" in result.stderr
