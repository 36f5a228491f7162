"""The scale benchmark (`make bench-scale`): a million small files, one 20 GiB file and a
100,000-run history, with peak RSS; prints a plain table and a Markdown one.

Not part of `make bench` or `make test`: it needs tens of GiB and tens of minutes. The
knobs (`--scale-files`, `--scale-gib`, `--scale-runs`, ...) make a small smoke run
possible. See benchmarks/README.md ("Scale") and docs/benchmarks.md ("Scale").
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_calib as calib
import bench_data as data
import bench_history as history
import bench_report as report
import bench_scale_data as sdata
import run as bench
from bench_exec import (
    BenchError,
    CommandFailed,
    RestoreMismatch,
    Tool,
    check_size,
    check_tree,
    file_blake3,
    flip_middle_byte,
    free_bytes,
    last_peak,
    max_peak,
    new_workspace,
    remove_tree,
    reset_peak,
    run,
    timed,
    tree_bytes,
)
from bench_report import Limit, Row, Target, under_seconds

SCALE_DIR = bench.DATA_DIR / "scale"
SCENARIOS = ("files", "big", "history")
GiB, MiB = sdata.GiB, sdata.MiB
STATUS_RUNS = 3
log = bench.log
# Finished trees are set aside, not deleted, until the harness ends (bench_exec.remove_tree):
# waiting 60 s after deleting the 1M-file tree was not enough, the 100k-file samples right
# after it measured 3-4x slower (ext4 without a journal skips recently freed inodes).


@dataclass(frozen=True)
class Options:
    files: sdata.FileSet
    sample: int  # files in DVC's sample (its rate is extrapolated to ``files.count``)
    touch: int
    gib: int
    runs: int
    mlvc: Tool
    dvc: Tool | None
    keep: bool


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--only", default=",".join(SCENARIOS), help="files,big,history")
    p.add_argument("--scale-files", type=int, default=1_000_000, metavar="N")
    p.add_argument("--scale-dirs", type=int, default=0, metavar="N", help="default files/1000")
    p.add_argument("--dvc-sample", type=int, default=100_000, metavar="N")
    p.add_argument("--touch", type=int, default=100, metavar="N", help="files touched")
    p.add_argument("--scale-gib", type=int, default=20, metavar="N")
    p.add_argument("--scale-runs", type=int, default=100_000, metavar="N")
    p.add_argument("--no-dvc", action="store_true", help="mlvc rows only")
    p.add_argument("--mlvc", default=str(bench.REPO_ROOT / ".venv" / "bin" / "mlvc"))
    p.add_argument("--keep", action="store_true", help="keep the work dirs under .work/")
    return p.parse_args(argv)


def at_most_rss(limit: int, m_rss: int, extra: Target | None = None) -> Target:
    """Target: mlvc's peak RSS ≤ ``limit`` bytes (and ``extra`` met, when given)."""
    text = f"peak RSS ≤ {limit // MiB:,} MiB"
    if extra is None:
        return Target(text, lambda _m, _d: m_rss <= limit)
    return Target(f"{extra.text}; {text}", lambda m, d: extra.check(m, d) and m_rss <= limit)


@contextmanager
def scratch(label: str, keep: bool) -> Iterator[Path]:
    """A fresh git workspace under benchmarks/.work (removed unless ``keep``)."""
    tmp, repo = new_workspace(bench.WORK_ROOT, label)
    try:
        yield repo
    finally:
        if keep:
            log(f"  kept {tmp}")
        else:
            log(f"  removing {tmp}")
            remove_tree(tmp)


@contextmanager
def borrowed(src: Path, dest: Path) -> Iterator[Path]:
    """``src`` renamed to ``dest`` (same filesystem, no copy) and back afterwards."""
    os.rename(src, dest)
    try:
        yield dest
    finally:
        os.rename(dest, src)


def warm(root: Path) -> float:
    """Read every file under ``root`` once (untimed; its seconds returned), so the timed
    `add` reads from the page cache as DVC's sample does: that sample is copied just
    before DVC adds it, while the large data set may have left the cache since it was
    made. Without this, the 1M `add` measured the disk (195 s cold, ~60 s warm here)."""
    start = time.perf_counter()
    for top, _, names in os.walk(root):
        for name in names:
            fd = os.open(os.path.join(top, name), os.O_RDONLY)
            try:
                while os.read(fd, 1 << 16):
                    pass
            finally:
                os.close(fd)
    return time.perf_counter() - start


def timed_peak(tool: Tool, repo: Path, *args: str) -> tuple[float, int]:
    seconds = timed(tool.cmd(*args), repo, tool.env)
    log(f"  {tool.name} {' '.join(args)}: {seconds:.2f} s, peak RSS {last_peak() / MiB:,.0f} MiB")
    return seconds, last_peak()


def median_peak(tool: Tool, repo: Path, *args: str) -> tuple[float, int]:
    run(tool.cmd(*args), repo, tool.env)  # warm-up, untimed
    reset_peak()
    runs = [timed_peak(tool, repo, *args)[0] for _ in range(STATUS_RUNS)]
    return statistics.median(runs), max_peak()


def touch(root: Path, spec: sdata.FileSet, count: int, first_dirs: int) -> None:
    """Set the mtime of ``count`` files spread over ``root`` to now (content unchanged)."""
    for rel in spec.spread(count, first_dirs):
        os.utime(root / rel)


def restore_cmd(tool: Tool, name: str) -> list[str]:
    return bench.restore_cmd(tool, name)


def files_pass(
    tool: Tool, repo: Path, opts: Options, dirs: int, expected: tuple[int, int]
) -> dict[str, float]:
    """add, status, status after touching, checkout into an empty directory of ``files/``;
    seconds and peak RSS by name. ``files/`` is moved aside for the checkout and back."""
    out: dict[str, float] = {}
    bench.init_tool(tool, repo.parent, repo)
    out["add"], out["add-rss"] = timed_peak(tool, repo, "add", "files")
    out["status"], out["status-rss"] = median_peak(tool, repo, "status")
    touch(repo / "files", opts.files, opts.touch, dirs)
    out["touched"], out["touched-rss"] = timed_peak(tool, repo, "status")
    aside = repo.parent / "aside"
    with borrowed(repo / "files", aside):
        try:
            reset_peak()
            out["checkout"] = timed(restore_cmd(tool, "files"), repo, tool.env)
            out["checkout-rss"] = max_peak()
            rss = out["checkout-rss"] / MiB
            log(f"  {tool.name} checkout: {out['checkout']:.2f} s, peak RSS {rss:,.0f} MiB")
            check_tree(repo / "files", expected)
        finally:
            remove_tree(repo / "files")
    return out


def check_files_disk(spec: sdata.FileSet) -> None:
    """Refuse early when the data set (if missing), mlvc's store and the restored copy
    (a 4 KiB block per file each, roughly) and DVC's sample would not fit."""
    per_copy = spec.count * 4096 * 1.1
    ready = sdata.is_ready(SCALE_DIR, spec.name, {"count": spec.count, "dirs": spec.dirs})
    need = (0 if ready else per_copy) + 2 * per_copy + GiB
    have = free_bytes(bench.BENCH_DIR)
    if have < need:
        raise BenchError(
            f"the files scenario needs about {need / GiB:.0f} GiB free on the filesystem of "
            f"{bench.BENCH_DIR}, have {have / GiB:.0f} GiB; free some space or pass a "
            "smaller --scale-files"
        )


def walk_seconds(root: Path) -> float:
    python = str(bench.VENV_PYTHON)
    return statistics.median(calib._child_seconds(python, "stat-walk", root) for _ in range(3))


def bench_files(opts: Options) -> list[Row]:
    spec = opts.files
    log(f"files: {spec.count:,} files in {spec.dirs:,} directories")
    check_files_disk(spec)
    src = sdata.ensure_files(SCALE_DIR, spec, log)
    walk = walk_seconds(src)
    log(f"  stat walk of {spec.count:,} files: {walk:.2f} s")
    log(f"  read once, into the page cache (untimed): {warm(src):.1f} s")
    full = spec.stats()
    with scratch("scale-files-mlvc", opts.keep) as repo, borrowed(src, repo / "files"):
        m = files_pass(opts.mlvc, repo, opts, spec.dirs, full)
    d, sample = None, spec.sample_dirs(opts.sample)
    scaled: dict[str, float] = {}
    if opts.dvc is not None:
        d, scaled, m_sample = sample_pass(opts, src, sample)
    n = f"{spec.count // 1000:,}k" if spec.count >= 1000 else str(spec.count)
    how = f"DVC: {spec.stats(sample)[0] // 1000:,}k sample, rate extrapolated"
    rows = [
        Row(f"walk: os.scandir + lstat of {n} files (median of 3)", walk, None, "s"),
    ]
    gib = GiB
    specs = [
        ("add", f"add {n} files ({how})", lambda r: at_most_rss(gib, r, bench.faster(10))),
        ("status", f"status {n} unchanged (median of {STATUS_RUNS}; {how})",
         lambda r: at_most_rss(gib, r, Target("≤ 3× the walk", lambda mv, _d: mv <= 3 * walk))),
        ("touched", f"status {n} after touching {opts.touch} files ({how})",
         lambda r: at_most_rss(gib, r)),
        ("checkout", f"checkout {n} files into an empty directory ({how})",
         lambda r: at_most_rss(gib, r, bench.faster(5))),
    ]  # fmt: skip
    for key, label, target in specs:
        dvc = scaled.get(key) if d is not None else None
        rss = (int(m[f"{key}-rss"]), int(d[f"{key}-rss"]) if d is not None else None)
        limit = Limit("walk", walk) if key == "status" else None
        rows.append(Row(label, m[key], dvc, "s", target(rss[0]), limit=limit, rss=rss))
    if d is not None:
        k = f"{spec.stats(sample)[0] // 1000:,}k"
        names = {
            "add": "add",
            "status": "status unchanged",
            "touched": f"status after touching {opts.touch} files",
            "checkout": "checkout",
        }
        for key, name in names.items():
            rss = (int(m_sample[f"{key}-rss"]), int(d[f"{key}-rss"]))
            label = f"{name}, {k}-file sample, both tools measured"
            rows.append(Row(label, m_sample[key], d[key], "s", rss=rss))
    return rows


def sample_pass(
    opts: Options, src: Path, dirs: int
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """DVC (and mlvc, for a measured ratio) over a copy of the first ``dirs`` directories;
    DVC's times scaled by count / sample files."""
    assert opts.dvc is not None
    expected = opts.files.stats(dirs)
    factor = opts.files.count / expected[0]
    results = []
    for tool in (opts.dvc, opts.mlvc):
        log(f"{tool.name}: sample of {expected[0]:,} files ({dirs} directories)")
        with scratch(f"scale-sample-{tool.name}", opts.keep) as repo:
            (repo / "files").mkdir()
            for d in range(dirs):
                name = opts.files.dir_name(d)
                run(["cp", "-R", str(src / name), str(repo / "files" / name)], repo)
            results.append(files_pass(tool, repo, opts, dirs, expected))
    d, m = results
    scaled = {k: v * factor for k, v in d.items() if not k.endswith("-rss")}
    return d, scaled, m


def bench_big(opts: Options) -> list[Row]:
    """add a single big file, re-add after a 1-byte change, checkout; mlvc only (DVC's
    cache would need another full copy on this disk)."""
    size = opts.gib * GiB
    need = size + 3 * GiB  # mlvc's store of it, the 2 GiB reference add and some room
    if not sdata.is_ready(SCALE_DIR, sdata.big_name(opts.gib), sdata.big_expect(opts.gib)):
        need += size
    if free_bytes(bench.BENCH_DIR) < need:
        raise BenchError(
            f"the big-file scenario needs about {need / GiB:.0f} GiB free on the filesystem "
            f"of {bench.BENCH_DIR}, have {free_bytes(bench.BENCH_DIR) / GiB:.0f} GiB; free "
            "some space or pass a smaller --scale-gib"
        )
    log(f"big: one {opts.gib} GiB file")
    src = sdata.ensure_big(SCALE_DIR, opts.gib)
    expect = sdata.recorded(SCALE_DIR, src.name)
    mlvc = opts.mlvc
    ref = reference_add(opts)
    with scratch("scale-big-mlvc", opts.keep) as repo, borrowed(src, repo / "big.bin") as path:
        bench.init_tool(mlvc, repo.parent, repo)
        add, add_rss = timed_peak(mlvc, repo, "add", "big.bin")
        before = tree_bytes(repo / ".mlvc")
        flip_middle_byte(path)
        readd, readd_rss = timed_peak(mlvc, repo, "add", "big.bin")
        growth = tree_bytes(repo / ".mlvc") - before
        path.unlink()
        checkout, co_rss = timed_peak(mlvc, repo, *restore_cmd(mlvc, "big.bin")[1:])
        check_size(path, size)
        flip_middle_byte(path)  # back to the generated content, checked below
        if file_blake3(path) != expect["blake3"]:
            raise RestoreMismatch(f"{path} does not hold the generated content after checkout")
    rate, ref_rate = size / add / 1e9, data.BIG_SIZE / ref / 1e9
    within = Target("≥ 0.9× the 2 GiB add's rate", lambda m, _d: m >= 0.9 * ref_rate)
    g = f"{opts.gib} GiB"
    return [
        Row("add 2 GiB (reference for the rate, same run)", ref, None, "s"),
        Row(f"add {g}", add, None, "s", at_most_rss(512 * MiB, add_rss), rss=(add_rss, None)),
        Row(f"add {g}: throughput", rate, None, "GB/s", within),
        Row(f"add {g}: reference throughput of the 2 GiB add", ref_rate, None, "GB/s"),
        Row(f"re-add {g} after a 1-byte change", readd, None, "s", rss=(readd_rss, None)),
        Row(f"re-add {g}: bytes stored", growth, None, "bytes",
            Target("< 1 MiB", lambda m, _d: m < MiB)),
        Row(f"checkout {g} (deleted first)", checkout, None, "s", rss=(co_rss, None)),
    ]  # fmt: skip


def reference_add(opts: Options) -> float:
    """mlvc add of the 2 GiB input of `make bench`, in this run."""
    ds = data.DATASETS["big"]
    if not data.is_ready(bench.DATA_DIR, ds):
        data.generate(bench.DATA_DIR, ds)
    with bench.workspace(bench_context(opts), opts.mlvc, "scale-ref", "big.bin") as repo:
        return timed_peak(opts.mlvc, repo, "add", "big.bin")[0]


def bench_context(opts: Options) -> bench.Context:
    dvc = opts.dvc or opts.mlvc
    return bench.Context(opts.mlvc, dvc, opts.keep, (), str(bench.VENV_PYTHON))


def bench_history(opts: Options) -> list[Row]:
    chains = max(1, opts.runs // history.DEPTH)
    log(f"history: building {chains * history.DEPTH:,} runs in-process")
    with scratch("scale-history", opts.keep) as tmp:
        hist = history.build(tmp / "repo", chains=chains)
        log(f"  built in {hist.seconds:.1f} s")
        ctx, last, at = bench_context(opts), history.DEPTH - 1, hist.root
        chain0, p0 = hist.chain_runs[0], history.chain_path(0, 0)
        p0_runs = [r for k, r in enumerate(chain0) if history.output_of(0, k) == p0]
        deepest, newest = history.output_of(0, last), hist.run_id(0, last)
        before = hist.run_id(0, last - 1)
        n = f"{hist.runs:,} runs"
        rows = [
            Row(f"build the history ({n}, in-process, informational)", hist.seconds, None, "s"),
            bench.lineage_row(ctx, at, f"`log {p0}` over {n}", ["log", p0],
                              under_seconds(0.2), p0_runs),
            bench.lineage_row(ctx, at, f"`blame {deepest}`, {history.DEPTH} deep, over {n}",
                              ["blame", deepest], under_seconds(0.3), chain0),
            bench.lineage_row(ctx, at, f"`diff` of two runs over {n}", ["diff", newest, before],
                              under_seconds(0.3), [newest, before]),
        ]  # fmt: skip
        rows.append(stale_status(opts, hist, min(100, chains), n))
    return rows


def stale_status(opts: Options, hist: history.History, count: int, n: str) -> Row:
    """`status` after changing the input of the last run of ``count`` chains."""
    for chain in range(count):
        path = hist.root / history.output_of(chain, history.DEPTH - 2)
        path.write_bytes(path.read_bytes()[::-1] + b"!")
    mlvc = opts.mlvc
    label = f"`status` with {count} changed inputs (stale runs) over {n} (median of 3)"
    try:
        seconds, rss = median_peak(mlvc, hist.root, "status")
        shown = json.loads(run(mlvc.cmd("status", "--json"), hist.root, mlvc.env))
    except CommandFailed as exc:
        log(f"  FAILED: {exc.describe()}")
        return Row(label, 0.0, None, "s", failure=f"exit {exc.code}, see log")
    stale = len(shown.get("stale", []))
    log(f"  status --json: {len(shown.get('changes', []))} changes, {stale} stale steps")
    failure = None if stale else "no stale runs reported"
    return Row(label, seconds, None, "s", failure=failure, rss=(rss, None))


GROUPS: dict[str, Callable[[Options], list[Row]]] = {
    "files": bench_files,
    "big": bench_big,
    "history": bench_history,
}


def options(args: argparse.Namespace) -> tuple[Options, list[str]]:
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        raise BenchError(
            f"unknown scenario(s): {', '.join(sorted(unknown))}; known: files, big, history"
        )
    dirs = args.scale_dirs or max(1, args.scale_files // 1000)
    mlvc = Tool("mlvc", bench.resolve_mlvc(args.mlvc), ".mlvc", dict(os.environ))
    dvc = None
    if not args.no_dvc and "files" in only:
        path, _version = bench.ensure_dvc()
        dvc = Tool("dvc", str(path), ".dvc/cache", bench.dvc_env())
    opts = Options(
        files=sdata.FileSet(args.scale_files, dirs),
        sample=min(args.dvc_sample, args.scale_files),
        touch=min(args.touch, args.scale_files),
        gib=args.scale_gib,
        runs=args.scale_runs,
        mlvc=mlvc,
        dvc=dvc,
        keep=args.keep,
    )
    return opts, only


def main(argv: list[str] | None = None) -> int:
    # A data set borrowed by a workspace goes back to .data/ in a `finally`: let a plain
    # `kill` unwind to it too.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))
    try:
        opts, only = options(parse_args(argv))
    except BenchError as exc:
        print(f"benchmark aborted: {exc}", file=sys.stderr)
        return 1
    rows: list[Row] = []
    for name in only:
        start = time.perf_counter()
        try:
            rows += GROUPS[name](opts)
        except BenchError as exc:  # the other scenarios still run and are reported
            log(f"{name}: FAILED: {exc}")
            rows.append(Row(f"scenario `{name}`", 0.0, None, "s", failure=str(exc)))
        log(f"{name}: done in {time.perf_counter() - start:.0f} s")
    print(report.plain_table(rows))
    print()
    print(report.markdown_table(rows))
    return 1 if any(row.failure for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
