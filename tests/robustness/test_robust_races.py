"""Races with other processes, provoked at known points: a run killed with SIGKILL, a
spool left by a dead run, files rewritten while `run` or `add` store them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import blake3
import pytest

from mlvc.porcelain.add import add
from mlvc.repo import Repo

PYTHON = sys.executable
MIB = 1 << 20


def _run_outputs(cli, *argv: str) -> dict:
    done = cli("run", "--json", "--", *argv).ok()
    run_id = json.loads(done.stdout)["run_id"]
    return json.loads(cli("show", run_id, "--json").ok().stdout)["outputs"]


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _wait_for(path: Path, proc: subprocess.Popen[bytes]) -> None:
    """Until `path` exists (the process reached a known point) or `proc` ended."""
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None, f"exited {proc.returncode} before {path.name} appeared"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def test_a_run_killed_with_sigkill_does_not_hide_the_next_runs_outputs(
    repo: Repo, workspace: Path, cli
) -> None:
    # The killed run's Python command traced its write of model.bin into the spool.
    script = (
        "import pathlib, time; pathlib.Path('model.bin').write_text('1');"
        "pathlib.Path('ready').touch(); time.sleep(600)"
    )
    proc = cli.popen("run", "--", PYTHON, "-c", script, start_new_session=True)
    _wait_for(workspace / "ready", proc)
    os.killpg(proc.pid, signal.SIGKILL)  # mlvc and its command, at a known point
    proc.communicate(timeout=60)
    (workspace / "ready").unlink()
    assert list((repo.dir / "tmp").glob("run-*")), "the killed run left no spool"

    outputs = _run_outputs(cli, "sh", "-c", "echo v > model.bin")

    assert set(outputs) == {"model.bin"}
    assert not list((repo.dir / "tmp").glob("run-*")), "the stale spool was not reclaimed"


@pytest.mark.parametrize("layout", ["locked-spool", "spool-before-locks"])
def test_a_stale_spool_of_a_dead_process_is_ignored_and_removed(
    repo: Repo, workspace: Path, cli, layout: str
) -> None:
    tmp = repo.dir / "tmp"
    if layout == "locked-spool":
        spool = tmp / f"run-{_dead_pid()}-0123456789ab"
        spool.mkdir()
        (spool / "lock").write_text("")  # nobody holds it: its run is gone
    else:  # what mlvc wrote before spools were locked
        spool = tmp / "run-0123456789abcdef"
        spool.mkdir()
    (spool / "4242.trace").write_text(json.dumps(["w", str(workspace / "model.bin")]) + "\n")

    outputs = _run_outputs(cli, "sh", "-c", "echo v > model.bin")

    assert set(outputs) == {"model.bin"}
    assert not spool.exists()


def test_a_live_spool_still_claims_its_runs_writes(repo: Repo, workspace: Path, cli) -> None:
    """The other side: a run in progress keeps its written paths out of our outputs."""
    script = (
        "import pathlib, time; pathlib.Path('theirs.bin').write_text('1');"
        "pathlib.Path('ready').touch()\n"
        "while not pathlib.Path('stop').exists(): time.sleep(0.01)"
    )
    other = cli.popen("run", "--", PYTHON, "-c", script)
    try:
        _wait_for(workspace / "ready", other)
        outputs = _run_outputs(cli, "sh", "-c", "echo 2 > theirs.bin; echo v > mine.bin")
    finally:
        (workspace / "stop").touch()
        other.communicate(timeout=60)
    assert other.returncode == 0
    assert set(outputs) == {"mine.bin"}


# -- files rewritten while they are stored ----------------------------------------------


def _records_match_store(repo: Repo, run_id: bytes) -> dict:
    """Every file the run recorded (walking its trees): size == stored length and id ==
    the hash of the stored bytes. Returns {path: stored bytes}."""
    from mlvc.ids import Kind
    from mlvc.objects import Run, Tree

    run = Run.decode(repo.store.get(run_id)[1])
    found = {}
    todo = [(path, rec.id, rec.kind, rec.size) for path, rec in run.outputs.items()]
    while todo:
        path, oid, kind, size = todo.pop()
        if kind == "tree":
            assert repo.store.kind(oid) is Kind.TREE
            entries = Tree.decode(repo.store.get(oid)[1]).entries
            todo += [(f"{path}/{e.name}", e.id, e.kind, e.size) for e in entries]
            continue
        data = b"".join(repo.store.iter_file(oid))
        assert len(data) == size, f"{path}: recorded size {size}, stored {len(data)} bytes"
        assert blake3.blake3(data).digest() == oid, f"{path}: id is not the stored bytes'"
        found[path] = data
    return {"files": found, "resources": run.resources}


def _add_with(repo: Repo, workspace: Path, target: str, on_progress) -> bytes:
    result = add(repo, [Path(target)], workspace, {"user": "t"}, progress=on_progress)
    assert result.run_id is not None
    return result.run_id


def test_small_files_rewritten_while_add_reads_them_record_what_was_stored(
    repo: Repo, workspace: Path, cli
) -> None:
    """The directory walk's stat says one size, the read finds another: the tree
    records the size of the bytes stored, and the snapshot checks out."""
    folder = workspace / "d"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_bytes(name.encode() * 3)
    rewritten = []

    def rewrite_all_once(_: int) -> None:  # after the first file is read: the rest change
        if not rewritten:
            for path in sorted(folder.iterdir()):
                path.write_bytes(b"new " * 500)
                rewritten.append(path)

    run_id = _add_with(repo, workspace, "d", rewrite_all_once)
    repo.close()

    reopened = Repo.discover(workspace)
    try:
        stored = _records_match_store(reopened, run_id)["files"]
    finally:
        reopened.close()
    assert b"new " * 500 in stored.values()
    for path in folder.iterdir():
        path.write_text("other")
    cli("checkout", run_id.hex(), "--", "d").ok()
    for rel, data in stored.items():
        assert (workspace / rel).read_bytes() == data


def test_files_removed_while_add_reads_a_directory_are_left_out(
    repo: Repo, workspace: Path
) -> None:
    """Another process removes files after the walk listed them: the tree holds what
    is still there (small files, and a large one through the general path)."""
    folder = workspace / "d"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_bytes(name.encode())
    (folder / "big.bin").write_bytes(os.urandom(MIB))
    (folder / "link").symlink_to("a.txt")
    kept: list[str] = []

    def remove_the_rest_once(_: int) -> None:
        if not kept:
            kept.extend(sorted(p.name for p in folder.iterdir()))
            for path in folder.iterdir():
                path.unlink()

    run_id = _add_with(repo, workspace, "d", remove_the_rest_once)

    stored = _records_match_store(repo, run_id)["files"]
    assert len(stored) == 1, stored  # the one file read before the others went
    assert set(stored) <= {f"d/{name}" for name in kept}


def test_a_large_file_rewritten_once_while_stored_is_read_again(
    repo: Repo, workspace: Path
) -> None:
    big = workspace / "big.bin"
    big.write_bytes(os.urandom(2 * MIB))
    past = time.time_ns() - 10_000_000_000  # the rewrite surely moves the mtime
    os.utime(big, ns=(past, past))
    final = os.urandom(2 * MIB + 1)

    def rewrite_once(_: int) -> None:
        if big.stat().st_size != len(final):
            big.write_bytes(final)

    run_id = _add_with(repo, workspace, "big.bin", rewrite_once)

    recorded = _records_match_store(repo, run_id)
    assert recorded["files"] == {"big.bin": final}
    assert "changed_while_stored" not in recorded["resources"]


def test_a_file_that_never_holds_still_is_recorded_as_changed_while_stored(
    repo: Repo, workspace: Path, cli
) -> None:
    big = workspace / "big.bin"
    big.write_bytes(os.urandom(2 * MIB))

    def rewrite_always(_: int) -> None:  # each read sees a new size: never steady
        with open(big, "ab") as handle:
            handle.write(b"x")

    run_id = _add_with(repo, workspace, "big.bin", rewrite_always)

    recorded = _records_match_store(repo, run_id)
    assert recorded["resources"]["changed_while_stored"] == ["big.bin"]
    assert "big.bin" not in repo.index.stat_rows(), "a stat row for content it does not match"
    status = json.loads(cli("status", "--json").ok().stdout)
    assert status["clean"] is False  # the file on disk is not what was stored


WRITER = """
import os, pathlib
stop = pathlib.Path('stop')
fd = os.open('hot.bin', os.O_RDWR | os.O_CREAT | os.O_TRUNC)
size = 32 << 20
os.write(fd, os.urandom(size))
pathlib.Path('started').touch()
n = 0
while not stop.exists():  # one byte at a time, in place: the mtime moves on every tick
    os.pwrite(fd, bytes([n % 251]), (n * 4099) % size)
    n += 1
"""


def test_a_run_whose_output_is_rewritten_until_told_to_stop_is_recorded(
    repo: Repo, workspace: Path, cli
) -> None:
    """The command leaves a process rewriting hot.bin while mlvc stores it."""
    (workspace / "writer.py").write_text(WRITER)
    command = (
        f"{PYTHON} writer.py >/dev/null 2>&1 & echo $! > writer.pid; echo v > model.bin;"
        "while [ ! -e started ]; do sleep 0.01; done"
    )
    try:
        done = cli("run", "--json", "--", "sh", "-c", command)
    finally:
        (workspace / "stop").touch()
        pid = int((workspace / "writer.pid").read_text())
        while Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid):
            time.sleep(0.01)
    done.ok()
    run_id = bytes.fromhex(json.loads(done.stdout)["run_id"])
    recorded = _records_match_store(repo, run_id)
    assert {"hot.bin", "model.bin"} <= set(recorded["files"])
    assert recorded["resources"].get("changed_while_stored", ["hot.bin"]) == ["hot.bin"]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].splitlines()[0]
    except (OSError, IndexError):
        return "zombie"


def test_concurrent_non_python_runs_are_all_recorded(repo: Repo, workspace: Path, cli) -> None:
    """Each run's scan also sees the others' files being written (nothing traces `head`):
    storing one that changes under it is never fatal. (Whether a read overlaps a write
    here is up to the scheduler; the tests above provoke it deterministically.)"""
    procs = [
        cli.popen("run", "--json", "--", "sh", "-c", f"head -c 4000000 /dev/urandom > out{i}.bin")
        for i in range(8)
    ]
    results = [(proc, *proc.communicate(timeout=120)) for proc in procs]
    failures = [err.decode() for proc, _, err in results if proc.returncode != 0]
    assert not failures, "\n".join(failures)
    for i, (_, out, _) in enumerate(results):
        recorded = _records_match_store(repo, bytes.fromhex(json.loads(out)["run_id"]))
        assert f"out{i}.bin" in recorded["files"]
