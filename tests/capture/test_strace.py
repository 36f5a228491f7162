"""Strict mode's reader of strace's output (mlvc/capture/strace.py), on the output of a real
strace: read as it grows, in pieces that cut lines anywhere, it says what read at once does."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mlvc.capture import strace

pytestmark = pytest.mark.skipif(not shutil.which("strace"), reason="no strace")


def _traced(tmp_path: Path) -> tuple[Path, Path]:
    """strace's output for a small shell pipeline run in `work`: (spool, work)."""
    work, spool = tmp_path / "work", tmp_path / "spool"
    work.mkdir()
    spool.mkdir()
    (work / "a.txt").write_text("a\n")
    script = "cat a.txt > b.txt; mkdir sub; cd sub; cat ../b.txt > c.txt; mv c.txt d.txt"
    subprocess.run(strace.command(["sh", "-c", script], spool), cwd=work, check=True)
    return spool, work


def _whole(spool: Path, work: Path) -> strace.Reader:
    reader = strace.Reader(spool, work)
    reader.feed((spool / strace.OUTPUT).read_bytes())
    reader.feed(b"\n")
    return reader


def test_what_the_traced_processes_read_wrote_and_ran(tmp_path: Path) -> None:
    spool, work = _traced(tmp_path)
    seen = _whole(spool, work).seen
    assert {str(work / "a.txt"), str(work / "b.txt")} <= seen.reads
    assert {str(work / "b.txt"), str(work / "sub" / "c.txt"), str(work / "sub" / "d.txt")} <= (
        seen.writes
    )
    ran = [argv[1:] for argv in seen.execs]  # execve's path, then the argv
    assert ["cat", "a.txt"] in ran and ["mv", "c.txt", "d.txt"] in ran


@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_read_in_pieces_as_it_grows_is_read_at_once(tmp_path: Path, piece: int) -> None:
    spool, work = _traced(tmp_path)
    data = (spool / strace.OUTPUT).read_bytes()
    reader = strace.Reader(spool, work)
    for start in range(0, len(data), piece):
        reader.feed(data[start : start + piece])
    reader.feed(b"\n")
    assert reader.seen == _whole(spool, work).seen


def test_the_following_thread_reads_the_whole_output(tmp_path: Path) -> None:
    spool, work = _traced(tmp_path)
    reader = strace.Reader(spool, work)
    reader.start()
    assert reader.stop() == _whole(spool, work).seen


def test_no_output_is_nothing_seen(tmp_path: Path) -> None:
    reader = strace.Reader(tmp_path, tmp_path)  # strace never started: no output file
    reader.start()
    seen = reader.stop()
    assert (seen.reads, seen.writes, seen.execs) == (set(), set(), [])
