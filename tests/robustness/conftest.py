"""Fixtures for the robustness suite: a byte-exact `mlvc` runner and store inspection.

The shared `mlvc` fixture decodes stdout as text, which cannot carry the binary output of
`cat-object`; `cli` here keeps stdout as bytes, bounds every run with a timeout, points
TMPDIR and XDG_STATE_HOME at a per-test directory (crash logs, exit 3, go to the
repository's `.mlvc/logs/`, else under XDG_STATE_HOME), and attaches such a log to any
failed assertion so a crash is reported with its traceback.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
import pytest

from mlvc.ids import Kind
from mlvc.objects import Manifest, ManifestNode, Part
from mlvc.repo import Repo
from mlvc.store.pack import read_table

MLVC = str(Path(sys.executable).with_name("mlvc"))
MIB = 1 << 20


@dataclass
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: str
    crash_dir: Path
    workspace: Path

    def crash_logs(self) -> str:
        logs = sorted(self.crash_dir.rglob("mlvc-crash-*.log"))
        logs += sorted(self.workspace.glob(".mlvc/logs/mlvc-crash-*.log"))
        return "\n".join(p.read_text(errors="replace") for p in logs)

    def describe(self) -> str:
        text = f"mlvc {' '.join(self.args)} exited {self.returncode}\nstderr:\n{self.stderr}"
        logs = self.crash_logs()
        return text + (f"\ncrash log:\n{logs}" if logs else "")

    def ok(self) -> Result:
        assert self.returncode == 0, self.describe()
        return self

    def text(self) -> str:
        return self.stdout.decode()

    def clean_error(self, *needles: str) -> Result:
        """Exit 1 with `error:` first, no traceback, and every needle in stderr."""
        assert self.returncode == 1, self.describe()
        assert self.stderr.startswith("error:"), self.describe()
        assert "Traceback" not in self.stderr, self.describe()
        for needle in needles:
            assert needle in self.stderr, f"{needle!r} not in stderr\n{self.describe()}"
        return self


class Cli:
    """Runs the installed console script in the workspace (or `cwd=`)."""

    def __init__(self, workspace: Path, crash_dir: Path) -> None:
        self.workspace = workspace
        self.crash_dir = crash_dir

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        crash_dir = str(self.crash_dir)
        return {**os.environ, "TMPDIR": crash_dir, "XDG_STATE_HOME": crash_dir, **(extra or {})}

    def popen(self, *args: str, cwd: Path | None = None, **kwargs: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [MLVC, *args],
            cwd=cwd or self.workspace,
            env=self.env(),
            stdout=kwargs.pop("stdout", subprocess.PIPE),
            stderr=kwargs.pop("stderr", subprocess.PIPE),
            stdin=subprocess.DEVNULL,
            **kwargs,
        )

    def __call__(
        self,
        *args: str,
        cwd: Path | None = None,
        timeout: float = 120,
        preexec_fn: Callable[[], None] | None = None,
    ) -> Result:
        proc = self.popen(*args, cwd=cwd, preexec_fn=preexec_fn)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(
                f"mlvc {' '.join(args)} did not finish within {timeout} s (hung); "
                f"stderr so far:\n{err.decode(errors='replace')}"
            )
        stderr = err.decode(errors="replace")
        return Result(args, proc.returncode, out, stderr, self.crash_dir, self.workspace)


@pytest.fixture
def cli(workspace: Path, tmp_path: Path) -> Cli:
    crash_dir = tmp_path / "crash-logs"
    crash_dir.mkdir()
    return Cli(workspace, crash_dir)


# -- helpers used by several modules (plain functions, imported through fixtures) -----


def chunk_parts(repo: Repo, file_id: bytes) -> list[Part]:
    """The chunks of a stored file in order: one part for a one-chunk file."""
    loc = repo.index.locate(file_id)
    assert loc is not None, f"{file_id.hex()} is not in the index"
    if loc.entry.kind is Kind.CHUNK:
        return [Part(loc.entry.id, loc.entry.raw_len)]
    _, data = repo.store.get(file_id)
    manifest = Manifest.decode(data)
    if manifest.level == 0:
        return list(manifest.parts)
    parts: list[Part] = []
    for node in manifest.parts:
        parts.extend(ManifestNode.decode(repo.store.get(node.id)[1]).parts)
    return parts


def flip_byte(path: Path, offset: int) -> None:
    """Invert one byte of a (read-only, sealed) pack in place."""
    mode = path.stat().st_mode
    path.chmod(0o644)
    try:
        with open(path, "r+b") as handle:
            handle.seek(offset)
            old = handle.read(1)
            assert len(old) == 1, f"offset {offset} is past the end of {path}"
            handle.seek(offset)
            handle.write(bytes([old[0] ^ 0xFF]))
    finally:
        path.chmod(mode)


def truncate(path: Path, size: int) -> None:
    mode = path.stat().st_mode
    path.chmod(0o644)
    try:
        os.truncate(path, size)
    finally:
        path.chmod(mode)


def assert_store_consistent(repo_dir: Path) -> None:
    """Every pack the index names exists, is sealed, and lists what the index says.

    Temporary packs (`tmp-*`) may be left by a crash; they are never referenced.
    """
    import sqlite3

    packs = repo_dir / "packs"
    sealed = {p.name[:-5]: p for p in packs.glob("*.pack") if not p.name.startswith("tmp-")}
    tables = {name: {e.id: e for e in read_table(path)} for name, path in sealed.items()}
    db = sqlite3.connect(repo_dir / "index.db")
    try:
        rows = db.execute(
            "SELECT p.name, o.id, o.offset, o.kind, o.codec, o.raw_len, o.stored_len "
            "FROM objects o JOIN packs p ON p.no = o.pack"
        ).fetchall()
        names = [r[0] for r in db.execute("SELECT name FROM packs")]
    finally:
        db.close()
    for name in names:
        assert name in sealed, f"index names pack {name} that is not on disk"
        assert not name.startswith("tmp-")
    for name, oid, offset, kind, codec, raw_len, stored_len in rows:
        entry = tables[name].get(oid)
        assert entry is not None, f"index places {oid.hex()} in {name}, whose table lacks it"
        assert (entry.offset, int(entry.kind), entry.codec, entry.raw_len, entry.stored_len) == (
            offset,
            kind,
            codec,
            raw_len,
            stored_len,
        ), f"index row for {oid.hex()} disagrees with pack {name}"


def pack_of(repo: Repo, oid: bytes) -> tuple[Path, int, int]:
    """(pack path, offset of stored bytes, stored length) of an object."""
    loc = repo.index.locate(oid)
    assert loc is not None
    return repo.dir / "packs" / f"{loc.pack}.pack", loc.entry.offset, loc.entry.stored_len


def write_random(path: Path, size: int) -> bytes:
    """Incompressible, chunk-distinct content; returns its BLAKE3 (what b3sum prints)."""
    hasher = blake3.blake3()
    with open(path, "wb") as handle:
        seed = os.urandom(32)
        block = 8 * MIB
        for i in range(0, size, block):
            piece = blake3.blake3(seed + i.to_bytes(8, "little")).digest(length=block)
            piece = piece[: size - i]
            handle.write(piece)
            hasher.update(piece)
    return hasher.digest()


def limit_file_size(limit: int) -> Callable[[], None]:
    """A preexec_fn: writes past `limit` bytes fail with EFBIG (SIGXFSZ ignored)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[None]:
    """A real tmpfs of `size` mounted on `path` for the block (root only, else skips)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the RLIMIT_FSIZE tests cover disk-full")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); rlimit tests cover it")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.fixture
def store_tools() -> Any:
    """The helpers above, for test modules (conftest modules are not importable by name)."""

    class Tools:
        chunk_parts = staticmethod(chunk_parts)
        flip_byte = staticmethod(flip_byte)
        truncate = staticmethod(truncate)
        assert_store_consistent = staticmethod(assert_store_consistent)
        pack_of = staticmethod(pack_of)
        write_random = staticmethod(write_random)
        limit_file_size = staticmethod(limit_file_size)
        tmpfs = staticmethod(tmpfs)

    return Tools


@pytest.fixture
def store(built: Any, tmp_path: Path) -> Path:
    """A copy of the module's `built` pipeline (workspace and store), to damage or
    collect; each module defines `built`."""
    copy = tmp_path / "ws"
    shutil.copytree(built.workspace, copy, symlinks=True)
    return copy
