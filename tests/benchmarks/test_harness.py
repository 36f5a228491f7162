"""The benchmark harness's own logic (benchmarks/): seeded scale data, the peak-RSS
measurement and the limit ratios; small data only, no timing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_exec  # noqa: E402
import bench_report  # noqa: E402
import bench_scale_data as sdata  # noqa: E402

MiB = 1 << 20


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_file_set_is_the_same_for_a_seed_and_its_stats_and_sample_match(tmp_path: Path) -> None:
    spec = sdata.FileSet(count=50, dirs=5)
    first = sdata.ensure_files(tmp_path / "a", spec, lambda _m: None)
    second = sdata.ensure_files(tmp_path / "b", spec, lambda _m: None)
    files = tree(first)
    assert files == tree(second)
    assert (len(files), sum(map(len, files.values()))) == spec.stats()
    assert all(1024 <= len(b) <= 4096 for b in files.values())
    assert tree(sdata.ensure_files(tmp_path / "c", sdata.FileSet(50, 5, seed=1), print)) != files
    # the sample: the first directories hold the files the scenario copies and touches
    dirs = spec.sample_dirs(20)
    assert dirs == 2
    in_sample = [name for name in files if int(name.split("/")[0][1:]) < dirs]
    assert len(in_sample) == spec.stats(dirs)[0] == 20
    touched = spec.spread(7, dirs)
    assert len(touched) == 7 and set(touched) <= set(in_sample)


def test_a_ready_data_set_is_reused_and_a_changed_one_regenerated(tmp_path: Path) -> None:
    spec = sdata.FileSet(count=10, dirs=2)
    root = sdata.ensure_files(tmp_path, spec, lambda _m: None)
    (root / "d0000" / "f0000000.bin").write_bytes(b"edited")
    sdata.ensure_files(tmp_path, spec, lambda _m: None)
    assert (root / "d0000" / "f0000000.bin").read_bytes() == b"edited"  # marker: reused
    sdata.marker(tmp_path, spec.name).unlink()
    sdata.ensure_files(tmp_path, spec, lambda _m: None)
    assert (root / "d0000" / "f0000000.bin").read_bytes() != b"edited"


ALLOCATE = "import sys; b = bytearray(int(sys.argv[1]) << 20); b[::4096] = b'x' * len(b[::4096])"


def test_peak_rss_is_the_commands_own_not_the_harness_s(tmp_path: Path) -> None:
    # A big harness: Linux starts an exec'd process's ru_maxrss at the peak of the address
    # space it replaces, so a command spawned straight from here would report >= 300 MiB.
    ballast = bytearray(300 * MiB)
    ballast[::4096] = b"x" * len(ballast[::4096])
    small = bench_exec.run_measured([sys.executable, "-c", "pass"], tmp_path)
    big = bench_exec.run_measured([sys.executable, "-c", ALLOCATE, "120"], tmp_path)
    assert small.peak_rss < 100 * MiB
    assert big.peak_rss >= 120 * MiB
    assert bench_exec.last_peak() == big.peak_rss
    del ballast


def test_a_failing_command_raises_with_its_output(tmp_path: Path) -> None:
    code = "import sys; print('out'); sys.exit('bad thing')"
    with pytest.raises(bench_exec.CommandFailed) as caught:
        bench_exec.run_measured([sys.executable, "-c", code], tmp_path)
    assert caught.value.code == 1
    assert "bad thing" in caught.value.stderr and caught.value.stdout == "out\n"


def test_rows_show_the_ratio_to_their_limit_and_judge_against_it() -> None:
    limit = bench_report.Limit("max(dd durable, CPU floor)", 2.0)
    target = bench_report.within_limit(1.15, limit)
    met = bench_report.Row("add", 2.2, 5.0, "s", target, limit=limit, rss=(300 * MiB, None))
    missed = bench_report.Row("add", 2.4, 5.0, "s", target, limit=limit)
    assert met.limit_ratio == pytest.approx(1.1) and met.verdict == "met"
    assert missed.verdict == "not met"
    cells = bench_report.plain_table([met]).splitlines()[2]
    assert "max(dd durable, CPU floor) 2.000 s" in cells and "1.10x" in cells
    assert "300 MiB" in cells
    slack = bench_report.within_limit(1.2, bench_report.Limit("BLAKE3", 1.0), extra=0.3)
    assert slack.check(1.5, None) and not slack.check(1.51, None)


def test_a_removed_tree_frees_its_big_files_now_and_its_inodes_at_the_end(tmp_path: Path) -> None:
    tree_root = tmp_path / "work" / "scenario"
    (tree_root / "d").mkdir(parents=True)
    (tree_root / "d" / "small.txt").write_bytes(b"x" * 10)
    (tree_root / "big.bin").write_bytes(b"\0" * bench_exec.BIG_FILE)
    (tree_root / "d").chmod(0o500)  # read-only directory: still removable
    bench_exec.remove_tree(tree_root)
    assert not tree_root.exists()
    [trash] = list((tmp_path / "work").iterdir())
    assert sorted(p.name for p in trash.rglob("*")) == ["d", "small.txt"]
    bench_exec.empty_trash()
    assert list((tmp_path / "work").iterdir()) == []


def test_the_cpu_floor_row_cuts_a_file_as_the_store_does(tmp_path: Path) -> None:
    """The CPU-floor limit runs the store's own entry point (`cut_and_take`, which cuts
    a 6 MiB file in-process: the fork starts at 128 MiB) in a fresh child and prints its
    seconds; a file it could not cut ends the child with an error."""
    import subprocess

    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(256)) * (6 * MiB // 256))
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_calib.py"), "cpu-floor", str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(done.stdout) > 0
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    failed = subprocess.run(
        [sys.executable, str(BENCH / "bench_calib.py"), "cpu-floor", str(empty)],
        capture_output=True,
        text=True,
    )
    assert failed.returncode != 0 and "the cutter read 0 of 0 bytes" in failed.stderr
