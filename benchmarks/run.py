"""Benchmark mlvc against DVC on generated data; print a table and update docs/benchmarks.md."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_calib as calib
import bench_capture as capture
import bench_data as data
import bench_history as history
import bench_remote as remote
import bench_report as report
import bench_ui as ui
from bench_exec import (
    BenchError,
    CommandFailed,
    RestoreMismatch,
    Tool,
    check_blake3,
    check_size,
    check_tree,
    copy_in,
    file_blake3,
    first_commit,
    flip_middle_byte,
    free_bytes,
    fs_type,
    last_peak,
    max_peak,
    mount_fstype,
    new_workspace,
    remove_tree,
    reset_peak,
    run,
    settle,
    timed,
    timed_runs,
    tree_bytes,
    tree_stats,
)
from bench_report import (
    Limit,
    Row,
    Target,
    adds_under,
    at_least_rate,
    faster,
    under_seconds,
    within_limit,
)

DVC_VERSION = "3.67.1"
# DVC's S3 plugin, and boto3 for the limit rows (its botocore: the one dvc-s3's aiobotocore
# takes), pinned beside DVC in its virtualenv.
DVC_EXTRAS = ("dvc-s3==3.3.0", "boto3==1.43.117")
BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / ".data"
WORK_ROOT = BENCH_DIR / ".work"
DVC_VENV = BENCH_DIR / ".dvc-venv"
DOC_PATH = REPO_ROOT / "docs" / "benchmarks.md"
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"  # runs the commands under `mlvc run`
MiB, GiB = data.MiB, data.GiB

SCENARIOS: dict[str, str] = {
    "calibration": "calibration rows (the machine's limits)",
    "add-big": "add 2 GiB",
    "change-1byte": "add 2 GiB after 1-byte change",
    "add-small": "add 20k files",
    "status-small": "status 20k unchanged",
    "checkout-small": "checkout 20k files",
    "add-small-flat": "add 20k files in one directory",
    "checkout-small-flat": "checkout 20k files in one directory",
    "checkout-big": "checkout 2 GiB",
    "version": "--version",
    "csv-store": "CSV store size",
    "weights": "weights add",
    "run-overhead": "run overhead",
    "run-2gib": "second run over unchanged 2 GiB input",
    "dvc-repro": "dvc repro (1 stage)",
    "lineage": "lineage queries over 10,000 runs",
    **capture.SCENARIOS,
    **remote.SCENARIOS,
    **ui.SCENARIOS,
}
ALIASES = {"remote": tuple(remote.SCENARIOS)}  # --only remote: every remote row
# need VENV_PYTHON (calibration: for the CPU floor, through the mlvc library)
RUN_SCENARIOS = ("calibration", "run-overhead", "run-2gib", "dvc-repro", "capture")
NEEDS: dict[str, str] = {  # scenario -> dataset key in data.DATASETS
    "add-big": "big",
    "change-1byte": "big",
    "add-small": "small",
    "status-small": "small",
    "checkout-small": "small",
    "add-small-flat": "small-flat",
    "checkout-small-flat": "small-flat",
    "checkout-big": "big",
    "csv-store": "csv",
    "weights": "weights",
    "run-2gib": "big",
    **remote.NEEDS,
}
CALIBRATION_NEEDS = ("big", "small")
LIMITED = ("add-big", "change-1byte", "checkout-big", "status-small", "version")  # see calib
CHECKOUT_SCENARIOS = ("checkout-small", "checkout-small-flat", "checkout-big")  # own workspaces
STATUS_RUNS = 5
CHECKOUT_RUNS = 3
VERSION_RUNS = 10
RUN_RUNS = 10  # run overhead, and the plain-python baseline of the 2 GiB run
REPRO_RUNS = 5
LINEAGE_RUNS = 5
SETTLE_SECONDS = 3.0  # age of big.bin's mtime/ctime before the first `mlvc run` reads it
READ_ONE_BYTE = "open('big.bin','rb').read(1)"
WRITE_OUT = "open('out.txt','w').write('x')"


@dataclass(frozen=True)
class Context:
    """Settings shared by every scenario."""

    mlvc: Tool
    dvc: Tool
    keep: bool
    selected: tuple[str, ...]
    python: str  # interpreter of the commands timed under `mlvc run` and their baselines
    limits: dict[str, Limit] = field(default_factory=dict)  # filled by the calibration rows

    @property
    def tools(self) -> tuple[Tool, Tool]:
        return self.mlvc, self.dvc

    def wants(self, *scenarios: str) -> bool:
        return any(s in self.selected for s in scenarios)


def log(message: str) -> None:
    """Progress line on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- setup -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SCENARIO[,..]",
        help="run only these scenarios (repeatable): "
        + ", ".join([*SCENARIOS, *(f"{k} (all {k} rows)" for k in ALIASES)]),
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dirs under .work/")
    parser.add_argument(
        "--mlvc", default=str(REPO_ROOT / ".venv" / "bin" / "mlvc"), help="mlvc executable"
    )
    parser.add_argument("--no-docs", action="store_true", help="don't rewrite docs/benchmarks.md")
    return parser.parse_args(argv)


def selected_scenarios(only: list[str]) -> tuple[str, ...]:
    """Scenario keys to run, in canonical order; all of them when ``only`` is empty."""
    wanted = {name.strip() for item in only for name in item.split(",") if name.strip()}
    wanted = {s for name in wanted for s in ALIASES.get(name, (name,))}
    unknown = wanted - SCENARIOS.keys()
    if unknown:
        raise BenchError(
            f"unknown scenario(s): {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}"
        )
    if wanted & set(LIMITED):
        wanted.add("calibration")  # the limit rows those scenarios are set beside
    return tuple(s for s in SCENARIOS if not wanted or s in wanted)


def needed_datasets(selected: tuple[str, ...]) -> list[str]:
    """Dataset keys the selected scenarios need, in a stable order."""
    keys = [NEEDS[s] for s in selected if s in NEEDS]
    if "calibration" in selected:
        keys += CALIBRATION_NEEDS
    return list(dict.fromkeys(keys))


def resolve_mlvc(spec: str) -> str:
    """Absolute path of the mlvc executable (workspaces run it from another cwd)."""
    path = spec if os.sep in spec else shutil.which(spec) or spec
    path = os.path.abspath(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise BenchError(f"mlvc executable not found: {path} (build it or pass --mlvc PATH)")
    return path


def required_bytes(selected: tuple[str, ...], keep: bool) -> int:
    """Free space needed: missing inputs, DVC's venv and the largest (or, with --keep, all)
    workspaces, each holding a copy of its input plus a store of up to the same size."""
    keys = set(needed_datasets(selected))
    missing = sum(
        data.DATASETS[k].size for k in keys if not data.is_ready(DATA_DIR, data.DATASETS[k])
    )
    per_tool = {k: 2 * data.DATASETS[k].size for k in keys}
    if "change-1byte" in selected:
        per_tool["big"] = 3 * data.BIG_SIZE  # DVC caches a second full copy
    for key in ("small", "small-flat"):
        if key in per_tool:
            per_tool[key] *= 2  # per-file overheads of the stores
    workspaces = 2 * sum(per_tool.values()) if keep else max(per_tool.values(), default=0)
    if keep and "run-2gib" in selected:
        workspaces += 2 * data.BIG_SIZE  # its own copy of big.bin plus mlvc's store of it
    if keep:  # input and store per tool, in workspaces of their own
        workspaces += sum(2 * per_tool[NEEDS[s]] for s in CHECKOUT_SCENARIOS if s in selected)
    venv = 0 if (DVC_VENV / "bin" / "dvc").exists() else 512 * MiB
    if any(s in selected for s in ("push-big", "push-1byte", "pull-big")):
        # two stores and two pulled copies per tool, and the S3 server's copies of both
        # tools' pushes (the changed file once more) and of the boto3 limit row
        workspaces = max(workspaces, 4 * data.BIG_SIZE) + 6 * data.BIG_SIZE
    return missing + workspaces + venv + 512 * MiB


def check_disk(selected: tuple[str, ...], keep: bool) -> None:
    """Fail early, with a clear message, when the data filesystem is too full."""
    need = required_bytes(selected, keep)
    have = free_bytes(BENCH_DIR)
    if have < need:
        raise BenchError(
            f"not enough free disk space on the filesystem of {BENCH_DIR}: need about "
            f"{need / GiB:.1f} GiB (inputs, DVC virtualenv and work dirs), have "
            f"{have / GiB:.1f} GiB. Free some space, or run a subset with --only."
        )


def ensure_data(selected: tuple[str, ...]) -> None:
    """Generate the inputs the selected scenarios need, reusing complete ones."""
    for key in needed_datasets(selected):
        ds = data.DATASETS[key]
        if data.is_ready(DATA_DIR, ds):
            continue
        log(f"generating {DATA_DIR.name}/{ds.name} ({report.fmt_value(ds.size, 'B')})")
        start = time.perf_counter()
        data.generate(DATA_DIR, ds)
        log(f"  done in {time.perf_counter() - start:.1f} s")


def dvc_version(dvc: Path) -> str | None:
    """Installed DVC version, or None if ``dvc`` is missing or broken."""
    if not dvc.exists():
        return None
    try:
        return run([str(dvc), "--version"], BENCH_DIR, dvc_env()).strip()
    except BenchError:
        return None


def ensure_dvc() -> tuple[Path, str]:
    """DVC executable in benchmarks/.dvc-venv (created and installed if needed) and version."""
    dvc = DVC_VENV / "bin" / "dvc"
    version = dvc_version(dvc)
    pip = [str(DVC_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    if version != DVC_VERSION:
        log(f"installing dvc=={DVC_VERSION} into {DVC_VENV.relative_to(REPO_ROOT)} (one-off)")
        python3 = shutil.which("python3") or sys.executable
        run([python3, "-m", "venv", "--clear", str(DVC_VENV)], BENCH_DIR)
        run([*pip, f"dvc=={DVC_VERSION}", *DVC_EXTRAS], BENCH_DIR)
        version = dvc_version(dvc)
        if version != DVC_VERSION:
            raise BenchError(f"{dvc} reports version {version!r}, expected {DVC_VERSION}")
    if not has_extras():
        log(f"installing {' '.join(DVC_EXTRAS)} into {DVC_VENV.relative_to(REPO_ROOT)}")
        run([*pip, f"dvc=={DVC_VERSION}", *DVC_EXTRAS], BENCH_DIR)
    return dvc, version


def has_extras() -> bool:
    """Whether DVC's virtualenv has the pinned dvc-s3 and boto3."""
    script = "import importlib.metadata as m, sys\nfor n in sys.argv[1:]: print(n, m.version(n))"
    names = [pin.split("==")[0] for pin in DVC_EXTRAS]
    try:
        shown = run([str(DVC_VENV / "bin" / "python"), "-c", script, *names], BENCH_DIR)
    except BenchError:
        return False
    return {line.replace(" ", "==") for line in shown.splitlines()} >= set(DVC_EXTRAS)


def dvc_env() -> dict[str, str]:
    """Environment for DVC: no analytics (there is no network to send them to)."""
    return {**os.environ, "DVC_NO_ANALYTICS": "1"}


def make_context(args: argparse.Namespace, selected: tuple[str, ...], dvc: Path) -> Context:
    mlvc = Tool("mlvc", resolve_mlvc(args.mlvc), ".mlvc", dict(os.environ))
    dvc_tool = Tool("dvc", str(dvc), ".dvc/cache", dvc_env())
    return Context(
        mlvc=mlvc, dvc=dvc_tool, keep=args.keep, selected=selected, python=str(VENV_PYTHON)
    )


def check_python(selected: tuple[str, ...]) -> None:
    """The `mlvc run` scenarios time commands run by the repo's virtualenv Python."""
    wanted = any(s in selected for s in RUN_SCENARIOS)
    if wanted and not (VENV_PYTHON.is_file() and os.access(VENV_PYTHON, os.X_OK)):
        raise BenchError(
            f"{VENV_PYTHON} not found; the calibration and mlvc run scenarios need it "
            "(make install)"
        )


def check_blake3_module(selected: tuple[str, ...]) -> None:
    """`checkout-big` checks the restored file's BLAKE3 with the ``blake3`` module."""
    if "checkout-big" in selected and importlib.util.find_spec("blake3") is None:
        raise BenchError(
            f"the checkout-big scenario needs the blake3 module, which {sys.executable} "
            f"cannot import; run the benchmark with {VENV_PYTHON} (make bench)"
        )


def check_mlvc_library(selected: tuple[str, ...]) -> None:
    """`lineage` builds its history in-process, so this Python must be able to import mlvc."""
    if "lineage" in selected and importlib.util.find_spec("mlvc") is None:
        raise BenchError(
            f"the lineage scenario builds its history with the mlvc library, which "
            f"{sys.executable} cannot import; run the benchmark with {VENV_PYTHON} (make bench)"
        )


# --- workspaces ------------------------------------------------------------------------------


def init_tool(tool: Tool, tmp: Path, repo: Path) -> None:
    """``<tool> init`` in ``repo``; DVC's site cache goes in the workspace so it is cleaned."""
    if tool.name == "dvc":
        run(tool.cmd("init", "-q"), repo, tool.env)
        run(tool.cmd("config", "core.site_cache_dir", str(tmp / "dvc-site")), repo, tool.env)
    else:
        run(tool.cmd("init"), repo, tool.env)


@contextmanager
def workspace(
    ctx: Context, tool: Tool, label: str, *inputs: str, commit: bool = False
) -> Iterator[Path]:
    """A fresh git repo (with one commit if ``commit``) with ``inputs`` copied in and ``tool``
    initialised; removed afterwards unless --keep."""
    tmp, repo = new_workspace(WORK_ROOT, f"{label}-{tool.name}")
    try:
        if commit:
            first_commit(repo)
        for name in inputs:
            copy_in(DATA_DIR / name, repo)
        init_tool(tool, tmp, repo)
        yield repo
    finally:
        if ctx.keep:
            log(f"  kept {tmp}")
        else:
            remove_tree(tmp)


def time_cmd(tool: Tool, repo: Path, *args: str) -> float:
    seconds = timed(tool.cmd(*args), repo, tool.env)
    log(f"  {tool.name} {' '.join(args)}: {seconds:.3f} s")
    return seconds


def store_bytes(tool: Tool, repo: Path) -> int:
    return tree_bytes(repo / tool.store)


# --- scenarios -------------------------------------------------------------------------------


def big_file(ctx: Context, tool: Tool) -> dict[str, float]:
    """add big.bin; then optionally flip one byte and add it again."""
    log(f"{tool.name}: add big.bin")
    out: dict[str, float] = {}
    with workspace(ctx, tool, "big", "big.bin") as repo:
        out["add"] = time_cmd(tool, repo, "add", "big.bin")
        out["add-rss"] = last_peak()
        if ctx.wants("change-1byte"):
            before = store_bytes(tool, repo)
            flip_middle_byte(repo / "big.bin")
            out["readd"] = time_cmd(tool, repo, "add", "big.bin")
            out["readd-rss"] = last_peak()
            out["growth"] = store_bytes(tool, repo) - before
            log(f"  {tool.name} store growth: {out['growth']:.0f} B")
    return out


def rss_of(m: Mapping[str, float], d: Mapping[str, float], key: str) -> tuple[int, int]:
    """The (mlvc, DVC) peak RSS figures recorded under ``key``."""
    return int(m[key]), int(d[key])


def limited_row(
    ctx: Context,
    scenario: str,
    label: str,
    times: tuple[float, float],
    rss: tuple[int, int],
    target: Callable[[Limit], Target],
    failure: str | None = None,
) -> Row:
    """A seconds row (mlvc, DVC) beside its limit row from this run's calibration; its
    ``target`` is built from that limit (the row has none when calibration did not run)."""
    limit = ctx.limits.get(scenario)
    goal = target(limit) if limit is not None else None
    return Row(label, *times, "s", goal, failure=failure, limit=limit, rss=rss)


def bench_big(ctx: Context) -> list[Row]:
    m, d = (big_file(ctx, tool) for tool in ctx.tools)
    rows: list[Row] = []
    if ctx.wants("add-big"):
        rows.append(limited_row(ctx, "add-big", SCENARIOS["add-big"], (m["add"], d["add"]),
                                rss_of(m, d, "add-rss"), partial(within_limit, 1.15)))  # fmt: skip
    if ctx.wants("change-1byte"):
        label, target = SCENARIOS["change-1byte"], partial(within_limit, 1.2, extra=0.3)
        rows.append(limited_row(ctx, "change-1byte", label, (m["readd"], d["readd"]),
                                rss_of(m, d, "readd-rss"), target))  # fmt: skip
        growth = Target("growth < 1 MiB", lambda mv, _dv: mv < MiB)
        label = "store growth after 1-byte change"
        rows.append(Row(label, m["growth"], d["growth"], "bytes", growth))
    return rows


def small_files(ctx: Context, tool: Tool, name: str = "small") -> dict[str, float]:
    """add ``name``/ (small/ or small-flat/); then, for small/, optionally the median of
    repeated warm status runs."""
    log(f"{tool.name}: add {name}/ (20k files)")
    out: dict[str, float] = {}
    with workspace(ctx, tool, name, name) as repo:
        out["add"] = time_cmd(tool, repo, "add", name)
        out["add-rss"] = last_peak()
        if name == "small" and ctx.wants("status-small"):
            run(tool.cmd("status"), repo, tool.env)  # warm-up, untimed
            reset_peak()
            runs = timed_runs(tool.cmd("status"), repo, tool.env, STATUS_RUNS)
            out["status"] = statistics.median(runs)
            out["status-rss"] = max_peak()
            log(f"  {tool.name} status: {', '.join(f'{r:.3f}' for r in runs)} s")
    return out


def bench_small(ctx: Context) -> list[Row]:
    m, d = (small_files(ctx, tool) for tool in ctx.tools)
    rows: list[Row] = []
    if ctx.wants("add-small"):
        rss = rss_of(m, d, "add-rss")
        rows.append(Row(SCENARIOS["add-small"], m["add"], d["add"], "s", faster(5), rss=rss))
    if ctx.wants("status-small"):
        label = f"{SCENARIOS['status-small']} (median of {STATUS_RUNS})"
        rows.append(limited_row(ctx, "status-small", label, (m["status"], d["status"]),
                                rss_of(m, d, "status-rss"), lambda _limit: faster(10)))  # fmt: skip
    return rows


def restore_cmd(tool: Tool, name: str) -> list[str]:
    """The command restoring the added ``name``: `mlvc checkout latest:NAME` (the newest
    run or snapshot that produced it) or `dvc checkout NAME.dvc`."""
    if tool.name == "dvc":
        return tool.cmd("checkout", f"{name}.dvc")
    return tool.cmd("checkout", f"latest:{name}")


def timed_restores(
    tool: Tool,
    repo: Path,
    name: str,
    count: int,
    verify: Callable[[Path], None],
    what: str,
    delete: bool = False,
) -> list[float]:
    """``count`` times: move ``name`` out of the workspace, or ``delete`` it (untimed),
    time its restore, ``verify`` it (untimed, raises RestoreMismatch).

    A directory of many files is moved aside rather than deleted: on ext4 without a
    journal (this VM's disk), inodes freed in the last 30-60 s are skipped one by one
    when new ones are allocated in the same block group (`recently_deleted`), so a
    restore right after an `rm -rf` of 20,000 files measures that kernel scan (several
    seconds, for either tool), not the tool. The moved-aside copies go with the
    workspace. A single large file is deleted (``delete``), as a user would: keeping
    2 GiB aside keeps it in the page cache, and this VM then takes the restore's fresh
    pages from its host at two to three times the cost (see docs/benchmarks.md)."""
    argv = restore_cmd(tool, name)
    runs: list[float] = []
    for _ in range(count):
        if delete:
            (repo / name).unlink()
        else:
            aside = repo.parent / f"aside-{name}-{len(list(repo.parent.glob('aside-*')))}"
            os.rename(repo / name, aside)
        runs.append(timed(argv, repo, tool.env))
        verify(repo / name)
    log(f"  {what}: {tool.name} {' '.join(argv[1:])}: {', '.join(f'{r:.3f}' for r in runs)} s")
    return runs


def add_untimed(tool: Tool, repo: Path, name: str) -> None:
    run(tool.cmd("add", name), repo, tool.env)
    log(f"  {tool.name} add {name} (untimed)")


Timing = tuple[float, int]  # (median seconds, largest peak RSS in bytes of the timed runs)


def mlvc_attempt(measure: Callable[[], Timing]) -> tuple[Timing, str | None]:
    """(``measure()``, None), or ((0.0, 0), why) when an mlvc command fails or restores
    wrong data: the row is then marked failed instead of aborting the benchmark."""
    try:
        return measure(), None
    except CommandFailed as exc:
        log(f"  FAILED: {exc.describe()}")
        return (0.0, 0), f"exit {exc.code}, see log"
    except RestoreMismatch as exc:
        log(f"  FAILED: {exc}")
        return (0.0, 0), "wrong restore, see log"


def checkout_small(ctx: Context, tool: Tool, name: str = "small") -> Timing:
    """Median seconds to restore the deleted ``name``/ (small/ or small-flat/) after `add`;
    every restore must hold as many files and bytes as the source."""
    log(f"{tool.name}: checkout {name}/ (20k files)")
    expected = tree_stats(DATA_DIR / name)
    with workspace(ctx, tool, f"checkout-{name}", name) as repo:
        add_untimed(tool, repo, name)
        verify = partial(check_tree, expected=expected)
        reset_peak()
        runs = timed_restores(tool, repo, name, CHECKOUT_RUNS, verify, "timed")
    return statistics.median(runs), max_peak()


def bench_checkout_small(ctx: Context, name: str = "small") -> list[Row]:
    (m, m_rss), failure = mlvc_attempt(partial(checkout_small, ctx, ctx.mlvc, name))
    d, d_rss = checkout_small(ctx, ctx.dvc, name)
    label = f"{SCENARIOS['checkout-' + name]} (median of {CHECKOUT_RUNS})"
    return [Row(label, m, d, "s", faster(5), failure=failure, rss=(m_rss, d_rss))]


def bench_add_small_flat(ctx: Context) -> list[Row]:
    m, d = (small_files(ctx, tool, "small-flat") for tool in ctx.tools)
    label, rss = SCENARIOS["add-small-flat"], rss_of(m, d, "add-rss")
    return [Row(label, m["add"], d["add"], "s", faster(5), rss=rss)]


def checkout_big(ctx: Context, tool: Tool, digest: str) -> Timing:
    """Median seconds to restore the deleted big.bin after `add big.bin` and one untimed
    warm-up restore; every restore must be a regular file of the right size, and the last
    one's BLAKE3 ``digest``."""
    log(f"{tool.name}: checkout big.bin (warm page cache)")
    with workspace(ctx, tool, "checkout-big", "big.bin") as repo:
        add_untimed(tool, repo, "big.bin")
        verify = partial(check_size, expected=data.BIG_SIZE)
        timed_restores(tool, repo, "big.bin", 1, verify, "warm-up, not reported", delete=True)
        reset_peak()
        runs = timed_restores(tool, repo, "big.bin", CHECKOUT_RUNS, verify, "timed", delete=True)
        peak = max_peak()
        check_blake3(repo / "big.bin", digest)
        log(f"  {tool.name}: restored big.bin has the source's BLAKE3")
    return statistics.median(runs), peak


def bench_checkout_big(ctx: Context) -> list[Row]:
    digest = file_blake3(DATA_DIR / "big.bin")
    log(f"BLAKE3 of {DATA_DIR.name}/big.bin: {digest}")
    (m, m_rss), failure = mlvc_attempt(partial(checkout_big, ctx, ctx.mlvc, digest))
    d, d_rss = checkout_big(ctx, ctx.dvc, digest)
    label = f"{SCENARIOS['checkout-big']} (warm page cache, median of {CHECKOUT_RUNS})"
    gbps = [data.BIG_SIZE / s / 1e9 if s > 0 else 0.0 for s in (m, d)]
    return [
        limited_row(ctx, "checkout-big", label, (m, d), (m_rss, d_rss), checkout_target,
                    failure),
        Row(f"{SCENARIOS['checkout-big']} throughput (warm page cache)", gbps[0], gbps[1],
            "GB/s", at_least_rate(1.0), failure=failure),
    ]  # fmt: skip


def checkout_target(limit: Limit) -> Target:
    """≥ 1.2× DVC's speed and ≥ 0.6× the cp row's (time ≤ cp / 0.6)."""
    return Target(
        "≥1.2× faster than DVC and ≥0.6× cp's speed",
        lambda m, d: d is not None and 0 < m <= limit.seconds / 0.6 and d / m >= 1.2,
    )


def version_time(tool: Tool) -> Timing:
    """Median wall-clock time of ``VERSION_RUNS`` runs of ``<tool> --version``."""
    WORK_ROOT.mkdir(parents=True, exist_ok=True)
    reset_peak()
    runs = timed_runs(tool.cmd("--version"), WORK_ROOT, tool.env, VERSION_RUNS)
    log(f"  {tool.name} --version: {', '.join(f'{r:.3f}' for r in runs)} s")
    return statistics.median(runs), max_peak()


def bench_version(ctx: Context) -> list[Row]:
    log("--version")
    (m, m_rss), (d, d_rss) = (version_time(tool) for tool in ctx.tools)
    label = f"{SCENARIOS['version']} (median of {VERSION_RUNS})"
    return [limited_row(ctx, "version", label, (m, d), (m_rss, d_rss),
                        lambda _limit: under_seconds(0.15))]  # fmt: skip


def add_one(ctx: Context, tool: Tool, name: str) -> tuple[float, int, int]:
    """(seconds to add ``name``, store bytes afterwards, peak RSS) in a fresh workspace."""
    log(f"{tool.name}: add {name}")
    with workspace(ctx, tool, name.split(".")[0], name) as repo:
        seconds = time_cmd(tool, repo, "add", name)
        return seconds, store_bytes(tool, repo), last_peak()


def bench_csv(ctx: Context) -> list[Row]:
    (mt, ms, mr), (dt, ds, dr) = (add_one(ctx, tool, "table.csv") for tool in ctx.tools)
    half = Target("mlvc ≤ ½ of DVC's", lambda mv, dv: dv is not None and mv <= dv / 2)
    return [
        Row("add CSV 257 MiB", mt, dt, "s", faster(1), rss=(mr, dr)),
        Row(SCENARIOS["csv-store"], ms, ds, "B", half),
    ]


def bench_weights(ctx: Context) -> list[Row]:
    (mt, ms, mr), (dt, ds, dr) = (add_one(ctx, tool, "weights.bin") for tool in ctx.tools)
    return [
        Row("add weights 512 MiB", mt, dt, "s", rss=(mr, dr)),
        Row("weights store size", ms, ds, "B"),
    ]


def median_time(
    argv: list[str], repo: Path, env: Mapping[str, str], count: int, what: str
) -> float:
    """Median wall-clock time of ``count`` runs of ``argv`` in ``repo``; logs every run."""
    runs = timed_runs(argv, repo, env, count)
    log(f"  {what}: {', '.join(f'{r:.3f}' for r in runs)} s")
    return statistics.median(runs)


def bench_run_overhead(ctx: Context) -> list[Row]:
    """Median `mlvc run -- python -c pass` minus median plain `python -c pass`."""
    log("mlvc run overhead")
    mlvc, plain = ctx.mlvc, [ctx.python, "-c", "pass"]
    with workspace(ctx, mlvc, "run-overhead", commit=True) as repo:
        base = median_time(plain, repo, mlvc.env, RUN_RUNS, "python -c pass")
        wrapped = median_time(
            mlvc.cmd("run", "--", *plain), repo, mlvc.env, RUN_RUNS, "mlvc run -- python -c pass"
        )
    return [
        Row(f"`mlvc run -- python -c pass` (median of {RUN_RUNS})", wrapped, None, "s"),
        Row(f"baseline: plain `python -c pass` (median of {RUN_RUNS})", base, None, "s"),
        Row(f"{SCENARIOS['run-overhead']} (difference of the medians)", wrapped - base, None,
            "s", adds_under(0.3)),
    ]  # fmt: skip


def bench_run_2gib(ctx: Context) -> list[Row]:
    """A second `mlvc run` of a command reading 1 byte of the unchanged big.bin, minus the
    plain command; the first run, which stores big.bin, is not reported."""
    log("mlvc run over unchanged big.bin")
    mlvc, plain = ctx.mlvc, [ctx.python, "-c", READ_ONE_BYTE]
    wrapped = mlvc.cmd("run", "--", *plain)
    with workspace(ctx, mlvc, "run-2gib", "big.bin", commit=True) as repo:
        settle(repo / "big.bin", SETTLE_SECONDS)
        first = timed(wrapped, repo, mlvc.env)
        log(f"  first mlvc run (stores big.bin, not reported): {first:.3f} s")
        before = store_bytes(mlvc, repo)
        second = timed(wrapped, repo, mlvc.env)
        log(f"  second mlvc run: {second:.3f} s")
        log(f"  store growth in the second run: {store_bytes(mlvc, repo) - before:,} B")
        base = median_time(plain, repo, mlvc.env, RUN_RUNS, "plain python, same command")
    label = SCENARIOS["run-2gib"]
    return [
        Row(f"{label}: `mlvc run`, second run", second, None, "s"),
        Row(f"baseline: plain python, same command (median of {RUN_RUNS})", base, None, "s"),
        Row(f"{label}: added time", second - base, None, "s", adds_under(0.5)),
    ]


def bench_dvc_repro(ctx: Context) -> list[Row]:
    """Informational: `mlvc run -- CMD` beside `dvc repro -f` of a one-stage dvc.yaml running
    CMD, which writes out.txt."""
    log("mlvc run vs dvc repro -f")
    mlvc, dvc, plain = ctx.mlvc, ctx.dvc, [ctx.python, "-c", WRITE_OUT]
    with workspace(ctx, mlvc, "repro", commit=True) as repo:
        m = median_time(mlvc.cmd("run", "--", *plain), repo, mlvc.env, REPRO_RUNS, "mlvc run")
    with workspace(ctx, dvc, "repro", commit=True) as repo:
        cmd = f'{shlex.quote(ctx.python)} -c "{WRITE_OUT}"'
        stage = f"stages:\n  s:\n    cmd: {json.dumps(cmd)}\n    outs:\n      - out.txt\n"
        (repo / "dvc.yaml").write_text(stage, encoding="utf-8")
        d = median_time(dvc.cmd("repro", "-f"), repo, dvc.env, REPRO_RUNS, "dvc repro -f")
        if not (repo / "out.txt").is_file():
            raise BenchError(f"dvc repro -f did not write out.txt in {repo}")
    label = (
        f"1-stage python command writing out.txt: `dvc repro -f` vs `mlvc run` "
        f"(median of {REPRO_RUNS}, informational)"
    )
    return [Row(label, m, d, "s")]


def lineage_row(
    ctx: Context,
    repo: Path,
    label: str,
    args: list[str],
    target: Target | None,
    expect: list[str],
) -> Row:
    """Median of ``LINEAGE_RUNS`` runs of ``mlvc ARGS`` after one untimed run, then one
    untimed ``mlvc ARGS --json`` that must name every run id in ``expect`` (a fast answer
    that left out part of the history meets nothing). A non-zero exit or a missing id
    gives a failed row instead of aborting the benchmark; the log shows the details."""
    mlvc, what = ctx.mlvc, "mlvc " + " ".join(args)
    try:
        run(mlvc.cmd(*args), repo, mlvc.env)  # warm-up, untimed; a failure shows here
        seconds = median_time(mlvc.cmd(*args), repo, mlvc.env, LINEAGE_RUNS, what)
        shown = run(mlvc.cmd(*args, "--json"), repo, mlvc.env)
    except CommandFailed as exc:
        log(f"  FAILED: {exc.describe()}")
        return Row(label, 0.0, None, "s", target, failure=f"exit {exc.code}, see log")
    missing = [run_id for run_id in expect if run_id not in shown]
    if missing:
        found = len(expect) - len(missing)
        log(f"  FAILED: {what} --json names {found} of {len(expect)} runs; no {missing[0]}")
        failure = f"{len(missing)} of {len(expect)} runs missing ({seconds:.3f} s)"
        return Row(label, seconds, None, "s", target, failure=failure)
    return Row(label, seconds, None, "s", target)


def bench_lineage(ctx: Context) -> list[Row]:
    """`log`, `blame`, `diff` and run tables (`log --table`, `runs --where`) from the CLI
    over a synthetic history of 10,000 runs built in-process with the mlvc library (see
    bench_history.py)."""
    log(
        f"lineage: building {history.CHAINS * history.DEPTH:,} runs over "
        f"{history.CHAINS * history.PATHS_PER_CHAIN:,} paths in-process"
    )
    WORK_ROOT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="lineage-mlvc-", dir=WORK_ROOT))
    try:
        hist = history.build(tmp / "repo", keep_chains=(0, history.CHAINS - 1))
        log(f"  built {hist.runs:,} runs, {hist.paths:,} paths in {hist.seconds:.1f} s")
        last = history.DEPTH - 1
        chain0, p0, n = hist.chain_runs[0], history.chain_path(0, 0), LINEAGE_RUNS
        p0_runs = [r for k, r in enumerate(chain0) if history.output_of(0, k) == p0]
        deepest = history.output_of(0, last)
        newest, before = hist.run_id(0, last), hist.run_id(0, last - 1)
        build_label = f"build the history ({hist.runs:,} runs, in-process, informational)"
        log_label = f"`mlvc log {p0}`, {len(p0_runs)} versions (median of {n})"
        blame_label = f"`mlvc blame {deepest}`, {history.DEPTH} levels deep (median of {n})"
        diff_label = f"`mlvc diff` of runs {last} and {last - 1} of a chain (median of {n})"
        shown = 1000  # the newest 1,000 runs: steps 45-49 of every chain
        newest_steps = chain0[-shown // history.CHAINS :]
        table = ["log", "--table", "-n", str(shown)]
        table_label = f"`mlvc log --table` of {shown:,} runs (median of {n})"
        where = ["runs", "--where", "metrics.acc > 0.5", "-n", str(shown)]
        where_label = (
            f"`mlvc runs --where 'metrics.acc > 0.5'`: {hist.runs:,} runs read, {shown:,} "
            f"shown (median of {n}, informational)"
        )
        # The steps are the 50 commands `train.py --step K`; a later step rewrote every
        # output of all but the last PATHS_PER_CHAIN (superseded), and those read a path
        # that a later run wrote again: stale, their latest run in the last chain.
        stale = [
            hist.run_id(history.CHAINS - 1, k)
            for k in range(last + 1 - history.PATHS_PER_CHAIN, last + 1)
        ]
        status_label = (
            f"`mlvc status` with stale-run detection, {hist.runs:,} runs "
            f"({len(stale)} stale steps, median of {n})"
        )
        at = hist.root
        rows = [
            Row(build_label, hist.seconds, None, "s"),
            lineage_row(ctx, at, log_label, ["log", p0], under_seconds(0.2), p0_runs),
            lineage_row(ctx, at, blame_label, ["blame", deepest], under_seconds(0.3), chain0),
            lineage_row(
                ctx, at, diff_label, ["diff", newest, before], under_seconds(0.3), [newest, before]
            ),
            lineage_row(ctx, at, table_label, table, under_seconds(0.5), newest_steps),
            lineage_row(ctx, at, where_label, where, None, newest_steps),
            lineage_row(ctx, at, status_label, ["status"], under_seconds(0.3), stale),
        ]
    finally:
        if ctx.keep:
            log(f"  kept {tmp}")
        else:
            remove_tree(tmp)
    return rows


def bench_remotes(ctx: Context) -> list[Row]:
    """Push, pull and clone through an S3 server (see bench_remote.py)."""
    bench = remote.Bench(
        mlvc=ctx.mlvc,
        dvc=ctx.dvc,
        boto_python=str(DVC_VENV / "bin" / "python"),
        data=DATA_DIR,
        work=WORK_ROOT,
        keep=ctx.keep,
        selected=ctx.selected,
        log=log,
    )
    return remote.bench_remotes(bench)


def bench_calibration(ctx: Context) -> list[Row]:
    """The machine's limits (bench_calib.py), first; later rows are set beside them."""
    log("calibration rows")
    figures = calib.measure(ctx.python, DATA_DIR / "big.bin", DATA_DIR / "small", WORK_ROOT, log)
    ctx.limits.update(calib.limits(figures))
    return calib.rows(figures, data.BIG_SIZE, data.SMALL_COUNT)


GROUPS: list[tuple[tuple[str, ...], Callable[[Context], list[Row]]]] = [
    (("calibration",), bench_calibration),
    (("add-big", "change-1byte"), bench_big),
    (("add-small", "status-small"), bench_small),
    (("checkout-small",), bench_checkout_small),
    (("add-small-flat",), bench_add_small_flat),
    (("checkout-small-flat",), lambda ctx: bench_checkout_small(ctx, "small-flat")),
    (("checkout-big",), bench_checkout_big),
    (("version",), bench_version),
    (("csv-store",), bench_csv),
    (("weights",), bench_weights),
    (("run-overhead",), bench_run_overhead),
    (("run-2gib",), bench_run_2gib),
    (("dvc-repro",), bench_dvc_repro),
    (("lineage",), bench_lineage),
    (
        tuple(capture.SCENARIOS),
        lambda ctx: capture.bench_capture(WORK_ROOT, ctx.mlvc.argv0, ctx.python, log),
    ),
    (tuple(remote.SCENARIOS), bench_remotes),
    (
        tuple(ui.SCENARIOS),
        lambda ctx: ui.bench_ui(WORK_ROOT, ctx.mlvc.argv0, log, ctx.keep),
    ),
]


# --- main ------------------------------------------------------------------------------------


def display_path(path: str) -> str:
    """``path`` relative to the repo root when inside it, else absolute."""
    inside = Path(path).is_relative_to(REPO_ROOT)
    return os.path.relpath(path, REPO_ROOT) if inside else path


def data_fs_description() -> str:
    """``stat -f -c %T`` of the data dir, plus the mount's type when that says more."""
    stat_type = fs_type(DATA_DIR)
    mounted = mount_fstype(DATA_DIR)
    if mounted and mounted not in stat_type.split("/"):
        return f"{stat_type} (`stat -f`), mounted as {mounted}"
    return stat_type


def run_info(ctx: Context, dvc_ver: str) -> report.RunInfo:
    mlvc_ver = run(ctx.mlvc.cmd("--version"), BENCH_DIR, ctx.mlvc.env).strip()
    return report.RunInfo(
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        mlvc_version=mlvc_ver,
        mlvc_path=display_path(ctx.mlvc.argv0),
        dvc_version=dvc_ver,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        data_fs=data_fs_description(),
        scenarios=list(ctx.selected),
        partial=len(ctx.selected) < len(SCENARIOS),
        machine=report.machine_info(),
    )


def benchmark(args: argparse.Namespace) -> int:
    selected = selected_scenarios(args.only)
    resolve_mlvc(args.mlvc)  # fail before spending minutes on data generation
    check_python(selected)
    check_mlvc_library(selected)
    check_blake3_module(selected)
    DATA_DIR.mkdir(exist_ok=True)
    check_disk(selected, args.keep)
    ensure_data(selected)
    dvc, dvc_ver = ensure_dvc()
    ctx = make_context(args, selected, dvc)
    info = run_info(ctx, dvc_ver)
    log(f"mlvc {info.mlvc_version} vs DVC {dvc_ver}; scenarios: {', '.join(selected)}")
    rows = [row for keys, group in GROUPS if ctx.wants(*keys) for row in group(ctx)]
    print(report.plain_table(rows))
    if not args.no_docs:
        report.write_doc(DOC_PATH, report.render_top(rows, info))
        log(f"wrote {display_path(str(DOC_PATH))}")
    failed = [row.label for row in rows if row.failure is not None]
    if failed:
        log(f"{len(failed)} row(s) failed (details above): {'; '.join(failed)}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return benchmark(args)
    except BenchError as exc:
        print(f"benchmark aborted: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("benchmark interrupted", file=sys.stderr)
        return 130
    finally:
        if WORK_ROOT.is_dir() and not any(WORK_ROOT.iterdir()):
            WORK_ROOT.rmdir()


if __name__ == "__main__":
    sys.exit(main())
