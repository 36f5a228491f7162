"""The remote rows: mlvc push, pull, clone beside DVC (dvc-s3) against one SeaweedFS S3
server on 127.0.0.1 started for the run, plus limit rows (the same bytes sent by boto3).

Each tool pushes from a fresh workspace where its input was added untimed, to a prefix of
its own in one bucket. A pull goes into a `git clone` of that workspace, with an empty
store: mlvc's clone (`mlvc clone`, untimed: the metadata) then, timed, either `mlvc
checkout latest:NAME` alone (which takes the data it lacks from the remote, then writes
the files: what `dvc pull` does) or `mlvc pull` then that checkout, each in a clone of
its own; DVC's timed `dvc pull`. Every pulled file is checked against its source, untimed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import bench_history as history
from bench_exec import (
    GIT_COMMIT,
    CommandFailed,
    RestoreMismatch,
    Tool,
    check_blake3,
    check_tree,
    copy_in,
    file_blake3,
    first_commit,
    flip_middle_byte,
    remove_tree,
    run,
    sync,
    tree_stats,
)
from bench_report import Row, Target, at_least_rate, faster, under_seconds
from bench_s3 import REGION, S3, seaweed

MiB = 1 << 20
SCENARIOS: dict[str, str] = {
    "push-small": "push 20k files",
    "pull-small": "pull 20k files into an empty store",
    "push-big": "push 2 GiB",
    "push-1byte": "push 2 GiB after 1-byte change",
    "pull-big": "pull 2 GiB into an empty store",
    "fetch-runs": "clone with the metadata of 10,000 runs",
}
NEEDS = {"push-small": "small", "pull-small": "small", "push-big": "big",
         "push-1byte": "big", "pull-big": "big"}  # fmt: skip

# The limit: boto3's managed upload, 16 parts of 64 MiB in flight (boto3's defaults
# otherwise, CRC included), timed inside the interpreter (no start-up).
BOTO_UPLOAD = """
import sys, time, boto3
from boto3.s3.transfer import TransferConfig
path, bucket, key, endpoint = sys.argv[1:5]
client = boto3.client("s3", endpoint_url=endpoint)
config = TransferConfig(max_concurrency=16, multipart_chunksize=64 << 20,
                        multipart_threshold=64 << 20)
start = time.perf_counter()
if sys.argv[5:] == ["download"]:
    client.download_file(bucket, key, path, Config=config)
else:
    client.upload_file(path, bucket, key, Config=config)
print(time.perf_counter() - start)
"""


@dataclass(frozen=True)
class Bench:
    """What the remote rows need from the harness."""

    mlvc: Tool
    dvc: Tool
    boto_python: str  # a Python with boto3 (DVC's virtualenv)
    data: Path
    work: Path
    keep: bool
    selected: tuple[str, ...]
    log: Callable[[str], None]

    def wants(self, *scenarios: str) -> bool:
        return any(s in self.selected for s in scenarios)


@dataclass
class Measured:
    """Seconds of one timed step, mlvc's `--json` summary, or why it failed."""

    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None

    def value(self, key: str) -> float:
        return float(self.summary.get(key, 0))


def attempt(bench: Bench, step: Callable[[], Measured]) -> Measured:
    """``step()``, or a failed measure when an mlvc command fails or restores wrong data
    (the row then says failed; the log says why)."""
    try:
        return step()
    except CommandFailed as exc:
        bench.log(f"  FAILED: {exc.describe()}")
        return Measured(failure=f"exit {exc.code}, see log")
    except (RestoreMismatch, ValueError) as exc:
        bench.log(f"  FAILED: {exc}")
        return Measured(failure="wrong result, see log")


def timed_step(bench: Bench, tool: Tool, repo: Path, *args: str) -> Measured:
    """One timed run of ``tool ARGS`` (after a sync); mlvc's JSON summary kept."""
    sync()
    start = time.perf_counter()
    out = run(tool.cmd(*args), repo, tool.env)
    seconds = time.perf_counter() - start
    summary = json.loads(out) if "--json" in args else {}
    summary = summary.get("fetched", summary)  # clone's summary is its fetch's
    shown = {k: summary[k] for k in ("objects", "bytes", "requests") if k in summary}
    bench.log(f"  {tool.name} {' '.join(args)}: {seconds:.3f} s {shown or ''}")
    return Measured(seconds, summary)


@contextlib.contextmanager
def scratch(bench: Bench, label: str) -> Iterator[Path]:
    bench.work.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=bench.work))
    try:
        yield tmp
    finally:
        if bench.keep:
            bench.log(f"  kept {tmp}")
        else:
            remove_tree(tmp)


def s3_flags(s3: S3) -> list[str]:
    return ["-o", f"endpoint_url={s3.endpoint}", "-o", f"client_kwargs.region_name={REGION}"]


def workspace(bench: Bench, tmp: Path, name: str) -> Path:
    """``tmp/repo``: a git repo with one commit and the input ``name`` copied in."""
    repo = tmp / "repo"
    repo.mkdir()
    run(["git", "init", "-q"], repo)
    first_commit(repo)
    copy_in(bench.data / name, repo)
    return repo


def git_clone(tmp: Path, repo: Path, name: str = "clone") -> Path:
    clone = tmp / name
    run(["git", "clone", "-q", str(repo), str(clone)], tmp)
    return clone


def check_pulled(path: Path, source: Path) -> None:
    """The pulled ``path`` equals ``source`` (a tree: files and bytes; a file: BLAKE3)."""
    if source.is_dir():
        check_tree(path, tree_stats(source))
    elif not path.is_file():
        raise RestoreMismatch(f"{path} was not pulled")
    else:
        check_blake3(path, file_blake3(source))


# --- one tool's push, changed push and pull --------------------------------------------------


def mlvc_side(bench: Bench, s3: S3, name: str, pull: bool, change: bool) -> dict[str, Measured]:
    mlvc, out = bench.mlvc, {}
    bench.log(f"mlvc: push {name}")
    with scratch(bench, f"remote-{name}-mlvc") as tmp:
        repo = workspace(bench, tmp, name)
        url = s3.url(f"mlvc-{tmp.name}")
        for args in (("init",), ("add", name), ("remote", "add", "origin", url, *s3_flags(s3))):
            run(mlvc.cmd(*args), repo, mlvc.env)
        out["push"] = attempt(bench, lambda: timed_step(bench, mlvc, repo, "push", "--json"))
        if change:
            flip_middle_byte(repo / name)
            run(mlvc.cmd("add", name), repo, mlvc.env)
            out["repush"] = attempt(bench, lambda: timed_step(bench, mlvc, repo, "push", "--json"))
        if pull:
            out["pull"] = attempt(bench, lambda: mlvc_pull(bench, s3, tmp, repo, url, name))
            out["checkout"] = attempt(bench, lambda: mlvc_checkout(bench, s3, tmp, repo, url, name))
    return out


def mlvc_checkout(bench: Bench, s3: S3, tmp: Path, repo: Path, url: str, name: str) -> Measured:
    """`mlvc clone` (untimed) into a git clone of ``repo``, then the timed `mlvc checkout
    latest:NAME`, which takes from the remote the data it lacks and writes the files."""
    mlvc, clone = bench.mlvc, git_clone(tmp, repo, "clone-checkout")
    run(mlvc.cmd("clone", url, ".", *s3_flags(s3)), clone, mlvc.env)
    done = timed_step(bench, mlvc, clone, "checkout", f"latest:{name}")
    check_pulled(clone / name, repo / name)
    return done


def mlvc_pull(bench: Bench, s3: S3, tmp: Path, repo: Path, url: str, name: str) -> Measured:
    """`mlvc clone` (untimed) into a git clone of ``repo``, then the timed `mlvc pull`,
    and `mlvc checkout` if the pull did not write ``name``."""
    mlvc, clone = bench.mlvc, git_clone(tmp, repo)
    run(mlvc.cmd("clone", url, ".", *s3_flags(s3)), clone, mlvc.env)
    pulled = timed_step(bench, mlvc, clone, "pull", "--json")
    pulled.summary["pull seconds"] = pulled.seconds
    if not (clone / name).exists():
        pulled.seconds += timed_step(bench, mlvc, clone, "checkout", f"latest:{name}").seconds
    check_pulled(clone / name, repo / name)
    return pulled


def dvc_side(bench: Bench, s3: S3, name: str, pull: bool, change: bool) -> dict[str, Measured]:
    dvc, out = bench.dvc, {}
    bench.log(f"dvc: push {name}")
    with scratch(bench, f"remote-{name}-dvc") as tmp:
        repo = workspace(bench, tmp, name)
        run(dvc.cmd("init", "-q"), repo, dvc.env)
        run(dvc.cmd("config", "core.site_cache_dir", str(tmp / "dvc-site")), repo, dvc.env)
        run(dvc.cmd("add", name), repo, dvc.env)
        run(dvc.cmd("remote", "add", "-d", "origin", s3.url(f"dvc-{tmp.name}")), repo, dvc.env)
        for key, value in (("endpointurl", s3.endpoint), ("region", REGION)):
            run(dvc.cmd("remote", "modify", "origin", key, value), repo, dvc.env)
        out["push"] = timed_step(bench, dvc, repo, "push")
        if change:
            flip_middle_byte(repo / name)
            run(dvc.cmd("add", name), repo, dvc.env)
            out["repush"] = timed_step(bench, dvc, repo, "push")
        if pull:
            run(["git", "add", "-A"], repo)
            run([*GIT_COMMIT, "-m", "data"], repo)
            clone = git_clone(tmp, repo)
            out["pull"] = timed_step(bench, dvc, clone, "pull")
            check_pulled(clone / name, repo / name)
    return out


def boto_limit(bench: Bench, s3: S3, path: Path, download: Path | None = None) -> float:
    """Seconds boto3 takes to upload ``path`` (as limit/NAME), or to download that object
    back to ``download``."""
    local, verb = (path, "upload_file") if download is None else (download, "download_file")
    argv = [bench.boto_python, "-c", BOTO_UPLOAD, str(local), s3.bucket, f"limit/{path.name}"]
    argv += [s3.endpoint, *(["download"] if download is not None else [])]
    seconds = float(run(argv, bench.work, s3.env(os.environ)).strip())
    bench.log(f"  boto3 {verb} {path.name}: {seconds:.3f} s")
    return seconds


def one_object(bench: Bench, s3: S3, tree: Path) -> float:
    """The limit for many small files: their bytes, concatenated, as one object."""
    with scratch(bench, "remote-concat") as tmp:
        joined = tmp / "small.concat"
        with open(joined, "wb") as out:
            for path in sorted(p for p in tree.rglob("*") if p.is_file()):
                with open(path, "rb") as src:
                    shutil.copyfileobj(src, out)
        return boto_limit(bench, s3, joined)


# --- rows ------------------------------------------------------------------------------------


def rows_for(label: str, m: Measured, dvc: Measured | None, target: Target | None) -> list[Row]:
    """Seconds of both tools, of `mlvc pull` alone for a pull, and mlvc's requests."""
    d = dvc.seconds if dvc is not None else None
    rows = [Row(label, m.seconds, d, "s", target, failure=m.failure)]
    if "pull seconds" in m.summary and m.summary["pull seconds"] != m.seconds:
        what = f"{label}: of which `mlvc pull` (the rest: `mlvc checkout`)"
        rows.append(Row(what, m.value("pull seconds"), None, "s"))
    what = f"{label}: requests (mlvc)"
    return [*rows, Row(what, m.value("requests"), None, "n", failure=m.failure)]


def bench_small(bench: Bench, s3: S3) -> list[Row]:
    pull = bench.wants("pull-small")
    limit = one_object(bench, s3, bench.data / "small")  # next to mlvc's push: same load
    m = mlvc_side(bench, s3, "small", pull, change=False)
    d = dvc_side(bench, s3, "small", pull, change=False)
    rows = rows_for(SCENARIOS["push-small"], m["push"], d["push"], faster(20))
    rows.append(Row("limit: the same bytes as one object (boto3)", limit, None, "s"))
    if pull:
        rows += pull_rows(SCENARIOS["pull-small"], m, d["pull"], faster(20))
    return rows


def pull_rows(
    label: str, m: dict[str, Measured], dvc: Measured, target: Target | None
) -> list[Row]:
    """`mlvc checkout` in a fresh clone (one command: data and files, as `dvc pull`) is
    the row with the target; `mlvc pull` then `mlvc checkout` follows it."""
    alone = m["checkout"]
    what = f"{label}: `mlvc checkout` of a fresh clone (takes the data, writes the files)"
    rows = [Row(what, alone.seconds, dvc.seconds, "s", target, failure=alone.failure)]
    return rows + rows_for(f"{label}: `mlvc pull`, then `mlvc checkout`", m["pull"], dvc, None)


def bench_big(bench: Bench, s3: S3) -> list[Row]:
    pull, change = bench.wants("pull-big"), bench.wants("push-1byte")
    limit = boto_limit(bench, s3, bench.data / "big.bin")  # next to mlvc's push: same load
    m = mlvc_side(bench, s3, "big.bin", pull, change)
    d = dvc_side(bench, s3, "big.bin", pull, change)
    near = Target("≤ 1.3× the boto3 limit", lambda mv, _dv: 0 < mv <= 1.3 * limit)
    rows = rows_for(SCENARIOS["push-big"], m["push"], d["push"], near)
    rows.append(Row("limit: boto3 upload_file, 16 parts of 64 MiB in flight", limit, None, "s"))
    if change:
        again = m["repush"]
        rows += rows_for(SCENARIOS["push-1byte"], again, d["repush"], None)
        small = Target("< 1 MiB", lambda mv, _dv: mv < MiB)
        label = f"{SCENARIOS['push-1byte']}: bytes uploaded"
        rows.append(Row(label, again.value("bytes"), None, "bytes", small, again.failure))
    if pull:
        got, dvc = m["pull"], d["pull"]
        rows += pull_rows(SCENARIOS["pull-big"], m, dvc, None)
        # The target is the pull's: `mlvc pull` alone (the data into the store), against
        # `dvc pull` (which also checks out: its whole time, as DVC has no other split).
        alone = got.value("pull seconds") if "pull seconds" in got.summary else got.seconds
        rates = [2**31 / x / 1e9 if x > 0 else 0.0 for x in (alone, dvc.seconds)]
        label = f"{SCENARIOS['pull-big']}: throughput of `mlvc pull`"
        rows.append(Row(label, rates[0], rates[1], "GB/s", at_least_rate(0.5), got.failure))
        with scratch(bench, "remote-download") as tmp:
            back = boto_limit(bench, s3, bench.data / "big.bin", tmp / "big.bin")
        label = "limit: boto3 download_file of the same bytes, 16 parts in flight"
        rows.append(Row(label, 2**31 / back / 1e9, None, "GB/s"))
    return rows


def bench_fetch(bench: Bench, s3: S3) -> list[Row]:
    """`mlvc clone` of a remote holding the synthetic 10,000-run history (bench_history),
    into a fresh git repo; `mlvc log` must then name the runs of one path."""
    mlvc = bench.mlvc
    bench.log("mlvc: clone with 10,000 runs' metadata")
    with scratch(bench, "remote-fetch") as tmp:
        hist = history.build(tmp / "origin")
        url = s3.url(f"mlvc-{tmp.name}")
        run(mlvc.cmd("remote", "add", "origin", url, *s3_flags(s3)), hist.root, mlvc.env)
        run(mlvc.cmd("push"), hist.root, mlvc.env)
        fresh = tmp / "fresh"
        fresh.mkdir()
        run(["git", "init", "-q"], fresh)
        first_commit(fresh)
        p0 = history.chain_path(0, 0)
        expect = [r for k, r in enumerate(hist.chain_runs[0]) if history.output_of(0, k) == p0]

        def clone() -> Measured:
            cloned = timed_step(bench, mlvc, fresh, "clone", url, ".", *s3_flags(s3), "--json")
            shown = run(mlvc.cmd("log", p0, "--json"), fresh, mlvc.env)
            if missing := [r for r in expect if r not in shown]:
                raise ValueError(f"mlvc log {p0} after the clone lacks run {missing[0]}")
            return cloned

        got = attempt(bench, clone)
    return rows_for(SCENARIOS["fetch-runs"], got, None, under_seconds(5))


def bench_remotes(bench: Bench) -> list[Row]:
    rows: list[Row] = []
    with scratch(bench, "remote-s3") as root, seaweed(root / "weed") as s3:
        bench.log(f"SeaweedFS S3 at {s3.endpoint}")
        keys = {tool.name: replace(tool, env=s3.env(tool.env)) for tool in (bench.mlvc, bench.dvc)}
        bench = replace(bench, mlvc=keys["mlvc"], dvc=keys["dvc"])
        if bench.wants("push-small", "pull-small"):
            rows += bench_small(bench, s3)
        if bench.wants("push-big", "push-1byte", "pull-big"):
            rows += bench_big(bench, s3)
        if bench.wants("fetch-runs"):
            rows += bench_fetch(bench, s3)
    return rows
