"""`mlvc clone`, `fetch`, `pull` and checkout from a remote, end to end through the real
`mlvc` command: a teammate's clone sees, compares, checks out and reproduces the runs
another clone pushed, over a directory remote and a real S3 server (SeaweedFS)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from mlvc.ids import ObjectId
from mlvc.repo import Repo
from mlvc.store.steps import step_facts
from tests.conftest import (
    MLVC,
    PYTHON,
    STAGES,
    Pipeline,
    Run,
    Template,
    build_pipeline,
    init_store,
)
from tests.remote.seaweed import S3Server


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, ran_template: Template) -> Pipeline:
    """The example pipeline run twice (learning rate 0.1, then 0.5), `prod` on the
    first train run. Pushed by each test to a remote of its own."""
    made = build_pipeline(tmp_path_factory, ran_template)
    params = made.workspace / "params.yaml"
    params.write_text(params.read_text().replace("learning_rate: 0.1", "learning_rate: 0.5"))
    for stage in ("train", "evaluate"):
        result = made.mlvc("run", "--json", "--", PYTHON, f"{stage}.py")
        made.runs[f"{stage}2"] = json.loads(result.stdout)["run_id"]
    return made


class Remote:
    """A remote as both clones name it: its URL, `-o` flags and credentials."""

    def __init__(
        self,
        url: str,
        flags: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        options: dict[str, Any] | None = None,
    ):
        self.url = url
        self.flags = flags
        self.env = env or {}
        self.options = options or {}  # the same, as storage options (for a test's own client)

    def transport(self) -> Any:
        """A client of this remote of the test's own (to forge or damage what it holds)."""
        from mlvc.store.connect import open_transport

        return open_transport(self.url, self.options)


@pytest.fixture(params=["directory", "s3"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Remote:
    if request.param == "directory":
        return Remote(str(tmp_path / "shared"))
    server: S3Server = request.getfixturevalue("s3_server")
    return Remote(
        f"s3://{server.bucket}/{uuid.uuid4().hex}",
        ("-o", f"endpoint_url={server.endpoint}", "-o", "client_kwargs.region_name=us-east-1"),
        {"AWS_ACCESS_KEY_ID": server.key, "AWS_SECRET_ACCESS_KEY": server.secret},
        server.options(),
    )


def _push_from(source: Pipeline, remote: Remote) -> str:
    """Push everything `source` recorded to `remote` under a fresh remote name."""
    name = f"r{uuid.uuid4().hex[:8]}"
    source.mlvc("remote", "add", name, remote.url, *remote.flags)
    env = {**os.environ, **remote.env}
    subprocess.run(
        [MLVC, "push", "-r", name], cwd=source.workspace, env=env, check=True, capture_output=True
    )
    return name


def _code_clone(source: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(source), str(dest)], check=True)
    return dest


def _log_ids(mlvc: Run, cwd: Path) -> list[str]:
    listed = json.loads(mlvc("log", "--json", cwd=cwd).stdout)["runs"]
    return [entry["id"] for entry in listed]


def test_a_teammate_clones_diffs_checks_out_and_reproduces(
    recorded: Pipeline, shared: Remote, mlvc: Run, tmp_path: Path
) -> None:
    _push_from(recorded, shared)
    b = _code_clone(recorded.workspace, tmp_path / "b")
    cloned = json.loads(
        mlvc("clone", shared.url, *shared.flags, "--json", cwd=b, env=shared.env).stdout
    )
    assert cloned["fetched"]["runs"] == len(recorded.runs)
    assert [t["name"] for t in cloned["fetched"]["tags"]] == ["prod"]
    assert sorted(_log_ids(mlvc, b)) == sorted(recorded.runs.values())
    assert _data_objects(b) == 0  # data stays on the remote until needed
    stages = [run for name, run in recorded.runs.items() if name != "raw"]
    assert _steps_without_loading(b, stages) == {(PYTHON, f"{s}.py") for s in STAGES}

    diff = json.loads(
        mlvc("diff", recorded.runs["train"], recorded.runs["train2"], "--json", cwd=b).stdout
    )
    changed = {(p["key"], p["old"], p["new"]) for p in diff["runs"]["params"]}
    assert ("train.learning_rate", 0.1, 0.5) in changed

    final = recorded.runs["evaluate2"]
    mlvc("checkout", final, cwd=b, env=shared.env)  # pulls the data it needs
    for path in ("metrics.json", "model/model.json"):
        assert (b / path).read_bytes() == (recorded.workspace / path).read_bytes()

    reproduced = mlvc("reproduce", recorded.runs["train2"], cwd=b, env=shared.env)
    assert "identical" in reproduced.stdout


def _steps_without_loading(workspace: Path, run_ids: list[str]) -> set[tuple[str, ...]]:
    """The commands of these runs, from the step memo the clone filled: the stale check
    of the first `status` loads no run object (it would fail here if it had to)."""

    def never(run_id: ObjectId) -> Any:
        raise AssertionError(f"run {run_id.hex()} is not in the step memo")

    ids = [ObjectId(bytes.fromhex(r)) for r in run_ids]
    memo = step_facts(workspace / ".mlvc", ids, never)
    return {memo.facts(run_id).command for run_id in ids}


def _data_objects(workspace: Path) -> int:
    repo = Repo.discover(workspace)
    try:
        return sum(
            1 for es in repo.index.entries_by_pack().values() for e in es if e.kind.name == "CHUNK"
        )
    finally:
        repo.close()


def test_sixteen_machines_push_at_once_and_each_fetch_sees_all(
    tmp_path: Path, s3_server: S3Server
) -> None:
    """Sixteen processes, each its own clone with a run of its own, push to one bucket
    at the same moment; every push succeeds, and after `fetch` every clone sees all."""
    url = f"s3://{s3_server.bucket}/{uuid.uuid4().hex}"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": s3_server.key,
           "AWS_SECRET_ACCESS_KEY": s3_server.secret}  # fmt: skip
    endpoint = ["-o", f"endpoint_url={s3_server.endpoint}"]
    template = tmp_path / "template"
    template.mkdir()
    init_store(template)
    add = [MLVC, "remote", "add", "origin", url, *endpoint, "--default"]
    subprocess.run(add, cwd=template, check=True, capture_output=True)
    clones = []
    for i in range(16):
        clone = tmp_path / f"machine{i:02}"
        shutil.copytree(template, clone)
        (clone / "shared.txt").write_text("the same file on every machine\n")
        (clone / "own.txt").write_text(f"machine {i}\n")
        _add_here(clone, "shared.txt", "own.txt")  # the setup: the subject is push and fetch
        clones.append(clone)

    def everyone(*args: str) -> None:
        procs = [
            subprocess.Popen(
                [MLVC, *args], cwd=c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            for c in clones
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err

    expected = {run for c in clones for run in _run_ids(c)}
    assert len(expected) == 16
    everyone("push")
    everyone("fetch")
    for clone in clones:
        assert set(_run_ids(clone)) == expected


def _add_here(workspace: Path, *names: str) -> None:
    """`mlvc add` of `names` in `workspace`, in this process."""
    from mlvc.porcelain.add import add

    repo = Repo.discover(workspace)
    try:
        assert add(repo, [Path(n) for n in names], workspace, {"user": "t"}).run_id is not None
    finally:
        repo.close()


def _run_ids(workspace: Path) -> list[str]:
    repo = Repo.discover(workspace)
    try:
        return [r.hex() for r in reversed(repo.index.history.run_ids(ok_only=False))]
    finally:
        repo.close()


def test_a_push_killed_mid_upload_is_completed_and_a_new_clone_verifies_everything(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    init_store(workspace)
    mlvc("remote", "add", "origin", str(shared), "--default")
    (workspace / "weights.bin").write_bytes(os.urandom(96 << 20))  # one pack >= 64 MiB
    (workspace / "notes.txt").write_text("a small file beside it\n")
    mlvc("add", "weights.bin", "notes.txt")
    push = subprocess.Popen([MLVC, "push"], cwd=workspace, stderr=subprocess.DEVNULL)
    packs = shared / "packs"
    while push.poll() is None and not (packs.is_dir() and any(packs.iterdir())):
        pass  # until the first upload has begun: the kill lands inside it
    push.kill()
    push.wait()
    assert push.returncode == -9, "the push finished before it could be killed"
    assert not (shared / "runs").exists()  # a reader sees no run yet

    mlvc("push")
    c = tmp_path / "c"
    c.mkdir()
    mlvc("clone", str(shared), cwd=c)
    pulled = json.loads(mlvc("pull", "--json", cwd=c).stdout)
    assert pulled["objects"] > 0
    assert _objects(c) == _objects(workspace)  # every object taken, each one verified
    mlvc("remote", "remove", "origin", cwd=c)  # the checkout needs nothing from it now
    mlvc("checkout", "latest", cwd=c)
    for name in ("weights.bin", "notes.txt"):
        assert (c / name).read_bytes() == (workspace / name).read_bytes()


def _objects(workspace: Path) -> set[bytes]:
    repo = Repo.discover(workspace)
    try:
        return {e.id for es in repo.index.entries_by_pack().values() for e in es}
    finally:
        repo.close()


def _snapshot(top: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(top)): p.read_bytes()
        for p in sorted(top.rglob("*"))
        if p.is_file() and "remotes" not in p.parts and p.name != "workspace.lock"
    }


def _one_file_cloned(mlvc: Run, file: Path, size: int, shared: Path | Remote, clone: Path) -> str:
    """`file` (random bytes) added in the workspace and pushed to the remote `shared` (a
    directory, or a Remote), which `clone` (a new directory) is cloned from; the add's
    run id."""
    remote = shared if isinstance(shared, Remote) else Remote(str(shared))
    init_store(file.parent)
    mlvc("remote", "add", "origin", remote.url, *remote.flags, "--default")
    file.write_bytes(os.urandom(size))
    run: str = json.loads(mlvc("add", file.name, "--json").stdout)["run_id"]
    mlvc("push", env=remote.env)
    clone.mkdir()
    mlvc("clone", remote.url, *remote.flags, cwd=clone, env=remote.env)
    return run


def test_a_flipped_byte_on_the_remote_fails_pull_and_checkout_and_changes_nothing(
    mlvc: Run, workspace: Path, tmp_path: Path, shared: Remote
) -> None:
    b = tmp_path / "b"
    run = _one_file_cloned(mlvc, workspace / "model.bin", 300_000, shared, b)
    from mlvc.store.pack import read_table

    remote = shared.transport()
    listed = remote.listdir("packs")
    data_pack = max((n for n in listed if n.endswith(".pack")), key=lambda n: listed[n])
    local = tmp_path / data_pack  # its table, read from a copy under its own name
    local.write_bytes(remote.read(f"packs/{data_pack}"))
    chunk = next(e for e in read_table(local) if e.kind.name == "CHUNK")
    damaged = bytearray(local.read_bytes())
    damaged[chunk.offset + chunk.stored_len // 2] ^= 0x40
    remote.write(f"packs/{data_pack}", bytes(damaged))
    before = _snapshot(b)

    for args in (("pull",), ("checkout", run)):
        failed = mlvc(*args, cwd=b, check=False, env=shared.env)
        assert failed.returncode == 1, failed.stderr
        assert f"corrupt object {chunk.id.hex()}" in failed.stderr
        assert "remote origin" in failed.stderr and "Traceback" not in failed.stderr
        assert _snapshot(b) == before  # no file written, no object kept


def test_a_crafted_remote_run_is_refused_by_fetch_and_nothing_is_written(
    mlvc: Run, workspace: Path, tmp_path: Path, shared: Remote
) -> None:
    from mlvc import codec
    from mlvc.ids import Kind, object_id
    from mlvc.store.remote import Remote as RemoteStore

    init_store(workspace)
    (workspace / "a.txt").write_text("alpha\n")
    run = json.loads(mlvc("add", "a.txt", "--json").stdout)["run_id"]
    repo = Repo.discover(workspace)
    value = codec.decode(repo.store.get(bytes.fromhex(run))[1], "run")
    repo.close()
    value["outputs"]["../outside.txt"] = value["outputs"].pop("a.txt")
    crafted = codec.encode(value)
    crafted_id = object_id(Kind.RUN, crafted)
    from mlvc.store.pack import PackWriter

    writer = PackWriter(tmp_path)
    writer.add(crafted_id, Kind.RUN, 0, len(crafted), crafted)
    writer.seal()
    forged = RemoteStore("forge", shared.transport(), tmp_path / "forge-cache")
    forged.upload_pack(writer.publish())
    forged.add_run_list([crafted_id])

    b = tmp_path / "b" / "ws"
    b.mkdir(parents=True)
    init_store(b)
    mlvc("remote", "add", "origin", shared.url, *shared.flags, "--default", cwd=b)
    before = _snapshot(tmp_path / "b")
    failed = mlvc("fetch", cwd=b, check=False, env=shared.env)
    assert failed.returncode == 1
    assert crafted_id.hex() in failed.stderr and "remote origin" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert _snapshot(tmp_path / "b") == before
    assert not (tmp_path / "b" / "outside.txt").exists()
    assert _log_ids(mlvc, b) == []


def test_tags_travel_forward_and_a_diverged_tag_is_kept_and_reported(
    recorded: Pipeline, mlvc: Run, tmp_path: Path
) -> None:
    shared = Remote(str(tmp_path / "shared"))
    name = _push_from(recorded, shared)
    b = tmp_path / "b"
    b.mkdir()
    mlvc("clone", shared.url, cwd=b)
    runs = recorded.runs
    assert mlvc("tag", cwd=b).stdout.split() == ["prod", runs["train"]]

    try:  # `recorded` is the module's: its `prod` is put back whatever happens here
        recorded.mlvc("tag", "prod", runs["train2"], "-m", "better model")
        recorded.mlvc("push", "-r", name)
        fetched = json.loads(mlvc("fetch", "--json", cwd=b).stdout)
        assert [(t["name"], t["status"]) for t in fetched["tags"]] == [("prod", "updated")]
        history = json.loads(mlvc("tag", "prod", "--history", "--json", cwd=b).stdout)
        assert [h["message"] for h in history["history"]][-1] == "better model"

        mlvc("tag", "prod", runs["evaluate"], cwd=b)  # here one way ...
        recorded.mlvc("tag", "prod", runs["evaluate2"])  # ... there another
        recorded.mlvc("push", "-r", name)
        rejected = mlvc("push", cwd=b, check=False)
        assert rejected.returncode == 1 and "prod" in rejected.stderr
        assert "fetch" in rejected.stderr
        diverged = json.loads(mlvc("fetch", "--json", cwd=b).stdout)
        assert [(t["name"], t["status"]) for t in diverged["tags"]] == [("prod", "diverged")]
        assert mlvc("tag", cwd=b).stdout.split() == ["prod", runs["evaluate"]]  # kept
    finally:
        recorded.mlvc("tag", "prod", runs["train"])


def test_checkout_of_remote_data_without_a_remote_says_what_to_do(
    recorded: Pipeline, mlvc: Run, tmp_path: Path
) -> None:
    shared = Remote(str(tmp_path / "shared"))
    _push_from(recorded, shared)
    b = tmp_path / "b"
    b.mkdir()
    mlvc("clone", shared.url, cwd=b)
    mlvc("remote", "remove", "origin", cwd=b)
    failed = mlvc("checkout", recorded.runs["train"], cwd=b, check=False)
    assert failed.returncode == 1 and "not in this store" in failed.stderr
    assert "mlvc remote add" in failed.stderr
    assert not (b / "model").exists()


def test_a_checkout_that_needs_no_remote_data_ignores_a_broken_remote(
    mlvc: Run, workspace: Path, tmp_path: Path
) -> None:
    """The remote is opened ahead, on the chance, when the first file's data is not in
    the store; a failure there matters only if the data must come from it."""
    shared, b = tmp_path / "shared", tmp_path / "b"
    run = _one_file_cloned(mlvc, workspace / "a.bin", 5000, shared, b)
    shutil.copy(workspace / "a.bin", b / "a.bin")  # the bytes are here, not in b's store
    shutil.rmtree(shared)
    shared.write_text("no longer a remote\n")
    done = json.loads(mlvc("checkout", run, "--json", cwd=b).stdout)
    assert done["unchanged"] == 1 and done["changes"] == []
    assert (b / "a.bin").read_bytes() == (workspace / "a.bin").read_bytes()
    (b / "a.bin").unlink()  # now the data must come from the remote: its failure shows
    failed = mlvc("checkout", run, cwd=b, check=False)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr
    assert not (b / "a.bin").exists()


def test_pull_of_one_run_takes_its_data_only(recorded: Pipeline, mlvc: Run, tmp_path: Path) -> None:
    shared = Remote(str(tmp_path / "shared"))
    _push_from(recorded, shared)
    b = tmp_path / "b"
    b.mkdir()
    mlvc("clone", shared.url, cwd=b)
    one: dict[str, Any] = json.loads(mlvc("pull", "prod", "--json", cwd=b).stdout)
    everything: dict[str, Any] = json.loads(mlvc("pull", "--json", cwd=b).stdout)
    assert one["objects"] > 0 and everything["objects"] > 0  # the rest came second
    again = json.loads(mlvc("pull", "--json", cwd=b).stdout)
    assert again["objects"] == 0
    mlvc("remote", "remove", "origin", cwd=b)
    mlvc("checkout", recorded.runs["train"], cwd=b)  # all local now


def test_push_of_one_run_sends_its_closure_with_its_ancestors(
    recorded: Pipeline, mlvc: Run, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    name = f"r{uuid.uuid4().hex[:8]}"
    recorded.mlvc("remote", "add", name, str(shared))
    recorded.mlvc("push", "prod", "-r", name)  # the first train run, and what fed it
    b = tmp_path / "b"
    b.mkdir()
    mlvc("clone", str(shared), cwd=b)
    runs = recorded.runs
    assert set(_log_ids(mlvc, b)) == {runs[s] for s in ("raw", "prepare", "featurize", "train")}
    assert mlvc("tag", cwd=b).stdout.split() == ["prod", runs["train"]]
    mlvc("checkout", "prod", cwd=b)
    from mlvc.ids import file_id
    from mlvc.lineage.resolve import resolve_path_at

    repo = Repo.discover(recorded.workspace)
    try:
        made = resolve_path_at(repo, f"model/model.json@{runs['train']}").record
    finally:
        repo.close()
    assert file_id((b / "model" / "model.json").read_bytes()) == made.id
