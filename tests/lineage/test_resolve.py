"""Naming what was recorded, through the real console script: directories written
piecewise (Kedro's versioned datasets), `show` without a run, `diff RUN` against the run
it superseded, and "did you mean" for names that name nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlvc.ids import Kind, ObjectId
from mlvc.lineage.resolve import UnknownRefError, previous_run
from mlvc.objects import PathRecord
from mlvc.objects import Run as RunObject
from mlvc.recorder import IndexRows, record
from mlvc.repo import Repo
from tests.conftest import Run

PYTHON = sys.executable
MODEL = "data/06_models/regressor.pickle"
# Kedro's versioned dataset: each save is a new timestamped directory below the dataset.
SAVE = """\
import os, sys
ts = sys.argv[1]
os.makedirs(f"{MODEL}/{ts}", exist_ok=True)
with open(f"{MODEL}/{ts}/regressor.pickle", "w") as f:
    f.write("model " + ts)
"""


def _run(mlvc: Run, *argv: str) -> str:
    return str(json.loads(mlvc("run", "--json", "--", *argv).stdout)["run_id"])


def _json(mlvc: Run, *args: str, cwd: Path | None = None) -> Any:
    return json.loads(mlvc(*args, "--json", cwd=cwd).stdout)


@pytest.fixture
def kedro(workspace: Path, mlvc: Run) -> list[str]:
    """Two runs that each saved a version of MODEL (the first made its directory, so wrote
    it whole; the second only a file below it), the dataset added whole, a third save: the
    ids of the three saves and of the snapshot, oldest first."""
    (workspace / "save.py").write_text(f"MODEL = {MODEL!r}\n{SAVE}")
    (workspace / "data/06_models").mkdir(parents=True)
    (workspace / "data/06_models/.gitkeep").write_text("")
    subprocess.run(["git", "add", "-A"], cwd=workspace, check=True)
    subprocess.run(["git", "commit", "-qm", "save"], cwd=workspace, check=True)
    mlvc("init")
    runs = [_run(mlvc, PYTHON, "save.py", f"2024-01-0{day}") for day in (1, 2)]
    runs.append(_json(mlvc, "add", MODEL)["run_id"])
    runs.append(_run(mlvc, PYTHON, "save.py", "2024-01-03"))
    return runs


def test_log_of_a_directory_lists_every_run_that_wrote_under_it(
    mlvc: Run, kedro: list[str]
) -> None:
    versions = _json(mlvc, "log", MODEL)["versions"]
    assert [v["run"] for v in versions] == kedro[::-1]
    assert [v["kind"] for v in versions] == ["dir", "tree", "dir", "tree"]
    assert versions[0]["modified"] == [f"{MODEL}/2024-01-03/regressor.pickle"]
    assert "-" in mlvc("log", MODEL).stdout.splitlines()[2].split()[:4]


def test_a_directory_at_a_run_resolves_to_what_the_run_wrote_in_it(
    mlvc: Run, kedro: list[str]
) -> None:
    shown = _json(mlvc, "show", f"{MODEL}@{kedro[1][:12]}")
    assert shown["run"]["id"] == kedro[1]
    assert shown["version"]["kind"] == "dir"
    assert list(shown["version"]["files"]) == ["2024-01-02/regressor.pickle"]
    assert "files written in it" in mlvc("show", f"{MODEL}@{kedro[1][:12]}").stdout
    # `DIR@` alone is the newest run that wrote in it, whole or piecewise.
    assert _json(mlvc, "show", f"{MODEL}@")["run"]["id"] == kedro[3]

    # Against the first save's whole tree: its file gone, the second's new.
    changed = _json(mlvc, "diff", f"{MODEL}@{kedro[0]}", f"{MODEL}@{kedro[1]}")
    assert changed["differ"] is True
    files = {(f["path"], f["state"]) for f in changed["content"]["files"]}
    assert files == {
        (f"{MODEL}/2024-01-01/regressor.pickle", "removed"),
        (f"{MODEL}/2024-01-02/regressor.pickle", "added"),
    }
    two_dirs = _json(mlvc, "diff", f"{MODEL}@{kedro[1]}", f"{MODEL}@{kedro[3]}")
    assert {f["path"].split("/")[3] for f in two_dirs["content"]["files"]} == {
        "2024-01-02",
        "2024-01-03",
    }
    same = _json(mlvc, "diff", f"{MODEL}@{kedro[1]}", f"{MODEL}@{kedro[1]}")
    assert same["differ"] is False


def test_blame_of_a_piecewise_directory_names_a_file_in_it(mlvc: Run, kedro: list[str]) -> None:
    failed = mlvc("blame", f"{MODEL}@{kedro[1]}", check=False)
    assert failed.returncode == 1
    assert "piecewise" in failed.stderr
    assert f"{MODEL}/2024-01-02/regressor.pickle@" in failed.stderr


def test_show_defaults_to_latest_and_takes_a_tracked_path(
    workspace: Path, mlvc: Run, kedro: list[str]
) -> None:
    assert _json(mlvc, "show")["id"] == kedro[3]
    assert _json(mlvc, "show", MODEL)["id"] == kedro[3]
    inner = f"{MODEL}/2024-01-02/regressor.pickle"
    # Its current version is the snapshot's (which holds the same content).
    assert _json(mlvc, "show", inner)["id"] == kedro[2]
    # A path is relative to where the command runs, as everywhere else.
    below = _json(mlvc, "show", "06_models/regressor.pickle", cwd=workspace / "data")
    assert below["id"] == kedro[3]
    at = _json(mlvc, "show", f"{inner}@{kedro[2][:10]}")
    assert at["version"]["kind"] == "file" and at["version"]["side"] == "output"
    assert at["run"]["kind"] == "snapshot"


def test_diff_of_one_run_compares_with_the_run_it_superseded(workspace: Path, mlvc: Run) -> None:
    mlvc("init")
    first = _run(mlvc, "sh", "-c", "echo 1 > out.txt")
    _run(mlvc, "sh", "-c", "echo other > other.txt")
    second = _run(mlvc, "sh", "-c", "echo 1 > out.txt")
    third = _run(mlvc, "sh", "-c", "echo 3 > out.txt")
    same_command = _json(mlvc, "diff", second)
    assert (same_command["a"]["id"], same_command["b"]["id"]) == (first, second)
    # Another command that wrote the same output: the run it superseded.
    by_outputs = _json(mlvc, "diff", third)
    assert (by_outputs["a"]["id"], by_outputs["b"]["id"]) == (second, third)
    assert by_outputs["runs"]["outputs"][0]["path"] == "out.txt"
    # A failed run is compared with the last good one, never superseding it itself.
    failed = mlvc("run", "--json", "--", "sh", "-c", "echo 4 > out.txt; exit 2", check=False)
    broken = json.loads(failed.stdout)["run_id"]
    assert _json(mlvc, "diff", broken)["a"]["id"] == third
    assert _json(mlvc, "diff", _run(mlvc, "sh", "-c", "echo 5 > out.txt"))["a"]["id"] == third
    alone = mlvc("diff", first, check=False)
    assert alone.returncode == 1
    assert "superseded no earlier run" in alone.stderr
    # A reproduction of the same command is never what a later run superseded.
    git = ("git", "-c", "user.name=t", "-c", "user.email=t@example.invalid")
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "c"], cwd=workspace, check=True)
    recorded = _run(mlvc, "sh", "-c", "echo 1 > out.txt")
    mlvc("reproduce", recorded)
    assert _json(mlvc, "diff", _run(mlvc, "sh", "-c", "echo 1 > out.txt"))["a"]["id"] == recorded


def test_unknown_names_get_a_did_you_mean(mlvc: Run, kedro: list[str]) -> None:
    typo = kedro[1][:11] + ("0" if kedro[1][11] != "0" else "1")
    failed = mlvc("show", typo, check=False)
    assert failed.returncode == 1
    assert f"did you mean '{kedro[1][:12]}'" in failed.stderr
    mlvc("tag", "production", kedro[0])
    assert "did you mean 'production'" in mlvc("diff", "prodution", check=False).stderr
    path = mlvc("checkout", f"latest:{MODEL[:-2]}", check=False)
    assert f"did you mean '{MODEL}'" in path.stderr
    bare = mlvc("show", "regressor.pickle", check=False)
    assert f"did you mean '{MODEL}'" in bare.stderr
    nothing = mlvc("show", "zzzzzz", check=False)
    assert "see 'mlvc log'" in nothing.stderr


# -- the run a run superseded, through the library ------------------------------------


def _record(repo: Repo, minute: int, command: str, outputs: dict[str, str]) -> ObjectId:
    """A run of `command` at 00:MM writing `outputs` (path -> "file" or "tree"; a tree
    holds one file, `PATH/x.txt`, which gets its own path version)."""
    blob = repo.store.put_bytes(f"{command} {minute}".encode())
    records = {path: PathRecord(blob, kind, 1) for path, kind in outputs.items()}
    inside = {p: [(f"{p}/x.txt", blob, "file", 1)] for p, k in outputs.items() if k == "tree"}
    run = RunObject(
        kind="run",
        started=f"2026-01-01T00:{minute:02d}:00.000000Z",
        ended=f"2026-01-01T00:{minute:02d}:01.000000Z",
        status="ok",
        command=tuple(command.split()),
        outputs=records,
    )
    return record(repo, run, IndexRows(files=inside))


def _runs_read(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The ids of the run objects read from the store from now on."""
    read: list[bytes] = []
    get = repo.store.get

    def counting(oid: bytes) -> Any:
        kind, data = get(oid)
        if kind is Kind.RUN:
            read.append(oid)
        return kind, data

    monkeypatch.setattr(repo.store, "get", counting)
    return read


def test_the_superseded_run_is_found_without_reading_the_history(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`diff RUN` read every older run object when no earlier run shared its command
    (8 s over 100,000 runs): now only the runs it compares."""
    trained = _record(repo, 0, "train", {"model.bin": "file"})
    others = [_record(repo, m, f"other {m}", {f"out{m}.txt": "file"}) for m in range(1, 30)]
    retrained = _record(repo, 30, "train --fast", {"model.bin": "file"})
    again = _record(repo, 31, "other 5", {"elsewhere.txt": "file"})
    read = _runs_read(repo, monkeypatch)
    assert previous_run(repo, retrained) == trained  # by its output
    assert set(read) == {retrained, trained}
    read.clear()
    assert previous_run(repo, again) == others[4]  # by its command
    assert set(read) == {again}


def test_a_file_inside_an_earlier_tree_output_is_no_shared_output(repo: Repo) -> None:
    first = _record(repo, 0, "make one", {"d/x.txt": "file"})
    _record(repo, 1, "make all", {"d": "tree"})  # has a version of d/x.txt, inside d
    later = _record(repo, 2, "make two", {"d/x.txt": "file"})
    assert previous_run(repo, later) == first


def test_runs_indexed_before_run_facts_are_compared_by_their_objects(repo: Repo) -> None:
    first = _record(repo, 0, "train", {"a.bin": "file"})
    _record(repo, 1, "evaluate", {"b.bin": "file"})
    repo.index.db.execute("DROP TABLE run_facts")  # as an index made before the table
    repo.close()
    reopened = Repo(repo.root)  # whose next run makes the table again
    try:
        later = _record(reopened, 2, "train", {"c.bin": "file"})
        assert not reopened.index.history.facts_complete()
        assert previous_run(reopened, later) == first
        with pytest.raises(UnknownRefError, match="superseded no earlier run"):
            previous_run(reopened, first)
    finally:
        reopened.close()


def test_a_recorded_path_is_named_without_looking_for_close_names(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`show PATH`, `runs PATH` and `diff` try the name as a run first: that failure is
    no error, so it does not compare the name with every recorded path (0.3 s of difflib
    over 10,000 paths); an unknown name still gets its "did you mean"."""
    from mlvc.lineage.runs import RunsQuery, runs
    from mlvc.porcelain.show import show
    from mlvc.store.history import History

    made = _record(repo, 0, "train", {"model.bin": "file"})
    compared: list[str] = []
    recorded_paths = History.recorded_paths

    def counting(self: History) -> list[str]:
        compared.append("paths")
        return recorded_paths(self)

    monkeypatch.setattr(History, "recorded_paths", counting)
    assert show(repo, "model.bin").id == made
    assert [row.id for row in runs(repo, RunsQuery(targets=("model.bin",))).runs] == [made]
    assert compared == []
    with pytest.raises(UnknownRefError) as shown:
        show(repo, "model.bim")
    with pytest.raises(UnknownRefError) as listed:
        runs(repo, RunsQuery(targets=("model.bim",)))
    for caught in (shown, listed):
        assert caught.value.hint == "did you mean 'model.bin'?"
