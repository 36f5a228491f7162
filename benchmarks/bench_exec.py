"""Process, timing and filesystem helpers for the mlvc-vs-DVC benchmark."""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class BenchError(RuntimeError):
    """A benchmark step failed; the message says what and why."""


class CommandFailed(BenchError):
    """A command exited non-zero."""

    def __init__(self, argv: Sequence[str], cwd: Path, code: int, stdout: str, stderr: str):
        self.argv = list(argv)
        self.cwd = cwd
        self.code = code
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(self.describe())

    def describe(self) -> str:
        """Human-readable report: command, cwd, exit status and its output."""
        lines = [
            f"command failed with exit status {self.code}: {' '.join(self.argv)}",
            f"  cwd: {self.cwd}",
        ]
        for name, text in (("stderr", self.stderr), ("stdout", self.stdout)):
            if text.strip():
                lines.append(f"  --- {name} ---")
                lines.extend("  " + line for line in text.rstrip().splitlines()[-40:])
        return "\n".join(lines)


class RestoreMismatch(BenchError):
    """A restored file or tree differs from its source."""


@dataclass(frozen=True)
class Tool:
    """One of the two programs under test and how to drive it."""

    name: str
    argv0: str
    store: str  # store directory relative to the workspace root
    env: Mapping[str, str]

    def cmd(self, *args: str) -> list[str]:
        """The argv that runs this tool with ``args``."""
        return [self.argv0, *args]


SPAWN = Path(__file__).resolve().parent / "bench_spawn.py"


@dataclass(frozen=True)
class Finished:
    """A command that exited 0: its stdout, wall-clock seconds and peak RSS in bytes (of
    its largest process: ``ru_maxrss`` from ``wait4`` covers the reaped descendants too,
    as a maximum, not a sum). Measured by bench_spawn.py, which says why."""

    stdout: str
    seconds: float
    peak_rss: int


# The peak RSS of the last run of a command, and the largest since `reset_peak()`: the
# scenarios report it beside their times without threading it through every helper.
_peaks = {"last": 0, "max": 0}


def reset_peak() -> None:
    _peaks["max"] = 0


def last_peak() -> int:
    """Peak RSS in bytes of the last command run by ``run``/``timed``."""
    return _peaks["last"]


def max_peak() -> int:
    """The largest peak RSS in bytes among the commands run since ``reset_peak()``."""
    return _peaks["max"]


def run_measured(argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> Finished:
    """Run a command through bench_spawn.py; raise CommandFailed on a non-zero exit."""
    with tempfile.NamedTemporaryFile(prefix="bench-spawn-", suffix=".txt") as report:
        proc = subprocess.run(
            [sys.executable, "-I", "-S", str(SPAWN), report.name, "--", *argv],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        measured = report.read().decode("ascii").split()
    if proc.returncode != 0:
        raise CommandFailed(argv, cwd, proc.returncode, proc.stdout, proc.stderr)
    seconds, peak = float(measured[0]), int(measured[1]) * 1024  # ru_maxrss: KiB on Linux
    _peaks["last"] = peak
    _peaks["max"] = max(_peaks["max"], peak)
    return Finished(proc.stdout, seconds, peak)


def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run a command, raise CommandFailed on a non-zero exit, return its stdout."""
    return run_measured(argv, cwd, env).stdout


def sync() -> None:
    """Flush dirty pages so a timed command doesn't pay for earlier writes."""
    subprocess.run(["sync"], check=True)


def timed(argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> float:
    """Wall-clock seconds of one run of ``argv`` (after a ``sync``); fails on non-zero exit.
    Its peak RSS is then ``last_peak()``."""
    sync()
    return run_measured(argv, cwd, env).seconds


def timed_runs(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None, count: int
) -> list[float]:
    """Wall-clock seconds of ``count`` consecutive runs of ``argv``."""
    return [timed(argv, cwd, env) for _ in range(count)]


def tree_stats(root: Path) -> tuple[int, int]:
    """(count, sum of lstat sizes) of the non-directory entries under ``root`` ((0, 0) if
    absent)."""
    if not root.exists():
        return 0, 0
    count = total = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    count += 1
                    total += entry.stat(follow_symlinks=False).st_size
    return count, total


def tree_bytes(root: Path) -> int:
    """Sum of the lstat sizes of every non-directory entry under ``root`` (0 if absent)."""
    return tree_stats(root)[1]


def check_tree(path: Path, expected: tuple[int, int]) -> None:
    """Raise RestoreMismatch unless ``path`` is a directory holding ``expected`` =
    (file count, total bytes) as returned by ``tree_stats``."""
    got = tree_stats(path) if path.is_dir() and not path.is_symlink() else (0, 0)
    if got != expected:
        raise RestoreMismatch(
            f"{path} holds {got[0]:,} files, {got[1]:,} B; expected {expected[0]:,} files, "
            f"{expected[1]:,} B"
        )


def check_size(path: Path, expected: int) -> None:
    """Raise RestoreMismatch unless ``path`` is a regular file (not a symlink) of
    ``expected`` bytes."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise RestoreMismatch(f"{path} is missing; expected {expected:,} B") from None
    if not stat.S_ISREG(info.st_mode) or info.st_size != expected:
        raise RestoreMismatch(
            f"{path} has mode {info.st_mode:o} and {info.st_size:,} B; expected a regular "
            f"file of {expected:,} B"
        )


def file_blake3(path: Path) -> str:
    """Hex BLAKE3 of a file's content (the ``blake3`` module is imported on first use, so
    the scenarios that don't need it run under any Python)."""
    import blake3

    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(str(path))
    return str(hasher.hexdigest())


def check_blake3(path: Path, expected: str) -> None:
    """Raise RestoreMismatch unless ``path``'s BLAKE3 is ``expected``."""
    got = file_blake3(path)
    if got != expected:
        raise RestoreMismatch(f"{path} has BLAKE3 {got}; expected {expected}")


def copy_in(src: Path, dest_dir: Path) -> Path:
    """Copy a file or directory into ``dest_dir`` with ``cp -R --reflink=auto``."""
    dest = dest_dir / src.name
    run(["cp", "-R", "--reflink=auto", str(src), str(dest)], dest_dir)
    return dest


def new_workspace(work_root: Path, label: str) -> tuple[Path, Path]:
    """Create ``<tmp>/repo`` as a fresh git repo; return (tmp dir, repo dir)."""
    work_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=work_root))
    repo = tmp / "repo"
    repo.mkdir()
    run(["git", "init", "-q"], repo)
    return tmp, repo


# Identity and signing settings for the one commit of a workspace, so a machine without a
# git identity (or with commit signing on) can still make it.
GIT_COMMIT = (
    "git", "-c", "user.name=mlvc benchmark", "-c", "user.email=bench@example.invalid",
    "-c", "commit.gpgsign=false", "commit", "-q", "--no-verify",
)  # fmt: skip


def first_commit(repo: Path) -> None:
    """Commit a one-line README in ``repo``, so HEAD exists."""
    (repo / "README.md").write_text("benchmark workspace\n", encoding="utf-8")
    run(["git", "add", "README.md"], repo)
    run([*GIT_COMMIT, "-m", "benchmark workspace"], repo)


def settle(path: Path, seconds: float) -> None:
    """Sleep until ``path``'s mtime and ctime are at least ``seconds`` old, so a tool's
    racy-timestamp check treats its cached hash as trustworthy."""
    info = path.stat()
    age = time.time() - max(info.st_mtime, info.st_ctime)
    if age < seconds:
        time.sleep(seconds - age)


_TRASH: list[Path] = []
BIG_FILE = 1 << 20


def remove_tree(path: Path, now: bool = False) -> None:
    """Delete a directory tree, making read-only directories writable if that is needed.

    Unless ``now``, only its files of 1 MiB or more go at once (their space): the tree
    itself is moved into a trash that `empty_trash` deletes when the harness ends. On ext4
    without a journal (this VM's disk) inodes freed in the last 60-300 s are skipped one by
    one when new ones are allocated in the same block group (`recently_deleted`), so the
    scenario after an `rm -rf` of 20,000 files would time that kernel scan, not the tool.
    """
    if not path.exists():
        return
    if not now and path.is_dir() and not path.is_symlink():
        _make_writable(path)
        for dirpath, _dirs, files in os.walk(path):
            for name in files:
                file = Path(dirpath, name)
                if not file.is_symlink() and file.stat().st_size >= BIG_FILE:
                    file.unlink()
        trash = path.parent / f".trash-{os.getpid()}-{len(_TRASH)}-{path.name}"
        os.rename(path, trash)
        _TRASH.append(trash)
        return
    try:
        shutil.rmtree(path)
    except PermissionError:
        _make_writable(path)
        shutil.rmtree(path)


def _make_writable(path: Path) -> None:
    for dirpath, _dirs, _files in os.walk(path):
        mode = os.stat(dirpath).st_mode
        if mode & (stat.S_IWUSR | stat.S_IXUSR) != stat.S_IWUSR | stat.S_IXUSR:
            os.chmod(dirpath, mode | stat.S_IWUSR | stat.S_IXUSR)


def empty_trash() -> None:
    """Delete the trees `remove_tree` set aside (at the end of a harness run), unless
    MLVC_BENCH_KEEP_TRASH is set: runs back to back would time the next run's first
    file creations against this deletion (delete the `.trash-*` directories later)."""
    if os.environ.get("MLVC_BENCH_KEEP_TRASH"):
        for trash in _TRASH:
            print(f"kept {trash} (MLVC_BENCH_KEEP_TRASH)", file=sys.stderr)
        return
    while _TRASH:
        remove_tree(_TRASH.pop(), now=True)


atexit.register(empty_trash)


def flip_middle_byte(path: Path) -> None:
    """Change the byte at ``size // 2`` in place, first un-sharing a hard-linked file."""
    info = path.lstat()
    if info.st_nlink > 1 or path.is_symlink() or not os.access(path, os.W_OK):
        private = path.with_name(path.name + ".unlinked")
        shutil.copyfile(path, private)
        os.replace(private, path)
        path.chmod(0o644)
    with path.open("r+b") as fh:
        fh.seek(info.st_size // 2)
        old = fh.read(1)
        fh.seek(info.st_size // 2)
        fh.write(bytes([old[0] ^ 0xFF]))


def free_bytes(path: Path) -> int:
    """Free bytes on the filesystem holding ``path``."""
    return shutil.disk_usage(path).free


def fs_type(path: Path) -> str:
    """Filesystem type of ``path`` as reported by ``stat -f -c %T``."""
    return run(["stat", "-f", "-c", "%T", str(path)], path).strip()


def mount_fstype(path: Path) -> str | None:
    """Filesystem type of the mount holding ``path``, from /proc/mounts (None if unknown)."""
    best: tuple[int, str] | None = None
    target = str(path.resolve())
    try:
        with open("/proc/mounts", encoding="utf-8") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) < 3:
                    continue
                point = fields[1].replace("\\040", " ")
                inside = target == point or target.startswith(point.rstrip("/") + "/")
                if inside and (best is None or len(point) > best[0]):
                    best = (len(point), fields[2])
    except OSError:
        return None
    return best[1] if best else None
