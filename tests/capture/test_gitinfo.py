"""code_info and strip_credentials against real git repositories."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mlvc.capture.gitinfo import MAX_UNTRACKED_BYTES, code_info, strip_credentials

Git = Callable[..., str]


class MemoryBlobs:
    """An in-memory twin of the object store's `put`: bytes in, id out."""

    def __init__(self) -> None:
        self.blobs: dict[bytes, bytes] = {}

    def __call__(self, data: bytes) -> bytes:
        key = hashlib.sha256(data).hexdigest().encode()
        self.blobs[key] = data
        return key


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)


def files_under(root: Path) -> dict[str, bytes]:
    """Every file under `root` outside `.git`, by root-relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def object_files(repo: Path) -> set[str]:
    return {str(p) for p in (repo / ".git" / "objects").rglob("*") if p.is_file()}


def apply_patch(patch: bytes, target: Path, tmp_path: Path, git: Git) -> None:
    patch_file = tmp_path / "run.patch"
    patch_file.write_bytes(patch)
    git("apply", "--binary", str(patch_file), cwd=target)


@pytest.fixture
def env() -> dict[str, str]:
    return dict(os.environ)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:hunter2@example.com/org/x.git", "https://example.com/org/x.git"),
        ("https://ghp_TOKEN123@example.com/org/x.git", "https://example.com/org/x.git"),
        ("https://user:p@ss@example.com:8443/x.git", "https://example.com:8443/x.git"),
        ("https://example.com/x.git?token=abc", "https://example.com/x.git"),
        ("https://example.com/x.git?access_token=abc#frag", "https://example.com/x.git"),
        ("http://oauth2:glpat-xyz@example.com/g/p.git", "http://example.com/g/p.git"),
        ("ssh://git@example.com/org/x.git", "ssh://git@example.com/org/x.git"),
        ("ssh://git:secret@example.com/org/x.git", "ssh://git@example.com/org/x.git"),
        ("git@example.com:org/x.git", "git@example.com:org/x.git"),
        ("user:secret@example.com:org/x.git", "user@example.com:org/x.git"),
        ("https://example.com/org/x.git", "https://example.com/org/x.git"),
        ("file:///srv/git/x.git", "file:///srv/git/x.git"),
        ("/srv/git/x.git", "/srv/git/x.git"),
        ("../x", "../x"),
        ("", ""),
        ("http://[::1", "http://[::1"),
        # Unencoded `#`, `?`, `/` and `@` in a password: a URL parser alone ends the
        # authority at the first of them and would keep the rest of the password.
        ("https://user:p#ss@example.com/x.git", "https://example.com/x.git"),
        ("https://user:p?ss@example.com/x.git", "https://example.com/x.git"),
        ("https://user:p/ss@example.com/x.git", "https://example.com/x.git"),
        ("https://u:a/b?c#d@e@example.com:8443/x.git", "https://example.com:8443/x.git"),
        ("ssh://git:p#w/x@example.com/org/x.git", "ssh://git@example.com/org/x.git"),
        ("https://example.com/org/x@v1", "https://example.com/org/x@v1"),
    ],
)
def test_strip_credentials(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected


def _dirty_repo(ws: Path, git: Git) -> None:
    """A committed repo, then every kind of uncommitted change."""
    write(ws / ".gitignore", "*.log\n")
    write(ws / "src/train.py", "print('v1')\n")
    write(ws / "model.bin", bytes(range(256)) * 4)
    write(ws / "old.py", "gone soon\n")
    write(ws / "staged.py", "a = 1\n")
    write(ws / "twice.py", "b = 1\n")
    git("add", "-A", cwd=ws)
    git("commit", "-q", "-m", "base", cwd=ws)

    write(ws / "src/train.py", "print('v2')\n")
    write(ws / "model.bin", b"\0\xff" + os.urandom(3000))
    (ws / "old.py").unlink()
    write(ws / "staged.py", "a = 2\n")
    write(ws / "twice.py", "b = 2\n")
    git("add", "staged.py", "twice.py", cwd=ws)
    write(ws / "twice.py", "b = 3  # changed again after staging\n")
    write(ws / "new_module.py", "def f():\n    return 1\n")
    write(ws / "conf/extra.yaml", "lr: 0.1\n")
    write(ws / "src/my file ü.py", "x = 'unicode name'\n")
    write(ws / "Makefile", "all:\n\ttrue\n")
    write(ws / "run.sh", "#!/bin/sh\necho hi\n")
    (ws / "run.sh").chmod(0o755)
    write(ws / "debug.log", "IGNORED-MARKER\n")
    write(ws / "data/big.csv", b"DATA-MARKER," * (MAX_UNTRACKED_BYTES // 6))
    write(ws / "data/raw.bin", b"RAW-MARKER")
    write(ws / "huge.py", "# HUGE-MARKER\n" + "x = 1\n" * (MAX_UNTRACKED_BYTES // 5))


NOT_PATCHED = {"debug.log", "data/big.csv", "data/raw.bin", "huge.py"}


def test_patch_reproduces_dirty_sources(
    workspace: Path, tmp_path: Path, git: Git, env: dict[str, str]
) -> None:
    _dirty_repo(workspace, git)
    status_before = git("status", "--porcelain", cwd=workspace)
    index_before = (workspace / ".git/index").read_bytes()
    objects_before = object_files(workspace)
    blobs = MemoryBlobs()

    info = code_info(workspace, env, blobs)

    assert info["dirty"] is True
    assert info["commit"] == git("rev-parse", "HEAD", cwd=workspace).strip()
    assert info["untracked"] == sorted(
        ["Makefile", "conf/extra.yaml", "new_module.py", "run.sh", "src/my file ü.py"]
    )
    patch = blobs.blobs[info["patch"]]
    for marker in (b"IGNORED-MARKER", b"DATA-MARKER", b"RAW-MARKER", b"HUGE-MARKER"):
        assert marker not in patch

    clone = tmp_path / "clone"
    git("clone", "-q", str(workspace), str(clone), cwd=tmp_path)
    git("checkout", "-q", info["commit"], cwd=clone)
    apply_patch(patch, clone, tmp_path, git)

    expected = {k: v for k, v in files_under(workspace).items() if k not in NOT_PATCHED}
    assert files_under(clone) == expected
    assert os.access(clone / "run.sh", os.X_OK)

    # The user's repository is untouched: status, index bytes, object files.
    assert git("status", "--porcelain", cwd=workspace) == status_before
    assert (workspace / ".git/index").read_bytes() == index_before
    assert object_files(workspace) == objects_before


def test_patch_is_deterministic(workspace: Path, git: Git, env: dict[str, str]) -> None:
    write(workspace / "a.py", "1\n")
    git("add", "a.py", cwd=workspace)
    git("commit", "-q", "-m", "base", cwd=workspace)
    write(workspace / "a.py", "2\n")
    write(workspace / "b.py", "3\n")
    blobs = MemoryBlobs()
    assert code_info(workspace, env, blobs) == code_info(workspace, env, blobs)
    assert len(blobs.blobs) == 1


def test_no_secret_is_recorded(workspace: Path, git: Git, env: dict[str, str]) -> None:
    write(workspace / "a.py", "1\n")
    git("add", "a.py", cwd=workspace)
    git("commit", "-q", "-m", "base", cwd=workspace)
    url = "https://alice:hunter2-pass@example.com/org/repo.git?private_token=tok-999"
    git("remote", "add", "origin", url, cwd=workspace)
    write(workspace / "a.py", "2\n")
    blobs = MemoryBlobs()

    info = code_info(workspace, {**env, "AWS_SECRET_ACCESS_KEY": "s3cr3t-value"}, blobs)

    assert info["remote"] == "https://example.com/org/repo.git"
    assert info["patch"] is not None
    recorded = repr(info).encode() + b"".join(blobs.blobs.values())
    for secret in (b"hunter2-pass", b"tok-999", b"s3cr3t-value", b"alice"):
        assert secret not in recorded


def test_clean_repo(workspace: Path, git: Git, env: dict[str, str]) -> None:
    write(workspace / "a.py", "1\n")
    write(workspace / "data.csv", "untracked data does not make the code dirty\n")
    git("add", "a.py", cwd=workspace)
    git("commit", "-q", "-m", "base", cwd=workspace)
    blobs = MemoryBlobs()

    info = code_info(workspace, env, blobs)

    assert info == {
        "git": True,
        "commit": git("rev-parse", "HEAD", cwd=workspace).strip(),
        "branch": git("symbolic-ref", "--short", "HEAD", cwd=workspace).strip(),
        "remote": None,
        "dirty": False,
        "patch": None,
        "untracked": [],
        "toplevel": ".",
    }
    assert blobs.blobs == {}


def test_workspace_in_subdirectory(
    workspace: Path, tmp_path: Path, git: Git, env: dict[str, str]
) -> None:
    write(workspace / "pkg/lib.py", "1\n")
    write(workspace / "exp/one/train.py", "1\n")
    git("add", "-A", cwd=workspace)
    git("commit", "-q", "-m", "base", cwd=workspace)
    write(workspace / "pkg/lib.py", "2\n")
    write(workspace / "pkg/new.py", "3\n")
    git("remote", "add", "origin", "https://me:hunter2@example.com/org/x.git", cwd=workspace)
    blobs = MemoryBlobs()

    info = code_info(workspace / "exp" / "one", env, blobs)

    assert info["toplevel"] == "exp/one"
    assert info["untracked"] == ["pkg/new.py"]  # named from the top, not the workspace
    assert info["remote"] == "https://example.com/org/x.git"
    clone = tmp_path / "clone"
    git("clone", "-q", str(workspace), str(clone), cwd=tmp_path)
    apply_patch(blobs.blobs[info["patch"]], clone, tmp_path, git)
    assert files_under(clone) == files_under(workspace)


def test_detached_head(workspace: Path, git: Git, env: dict[str, str]) -> None:
    write(workspace / "a.py", "1\n")
    git("add", "a.py", cwd=workspace)
    git("commit", "-q", "-m", "base", cwd=workspace)
    git("checkout", "-q", "--detach", cwd=workspace)
    info = code_info(workspace, env, MemoryBlobs())
    assert info["branch"] is None
    assert info["commit"] == git("rev-parse", "HEAD", cwd=workspace).strip()


def test_no_commits_yet(workspace: Path, tmp_path: Path, git: Git, env: dict[str, str]) -> None:
    write(workspace / "staged.py", "s = 1\n")
    git("add", "staged.py", cwd=workspace)
    write(workspace / "train.py", "t = 1\n")
    write(workspace / "weights.npy", b"\x93NUMPY")
    blobs = MemoryBlobs()

    info = code_info(workspace, env, blobs)

    assert info["commit"] is None
    assert info["branch"]
    assert info["dirty"] is True
    assert info["untracked"] == ["train.py"]
    fresh = tmp_path / "fresh"
    git("init", "-q", str(fresh), cwd=tmp_path)
    apply_patch(blobs.blobs[info["patch"]], fresh, tmp_path, git)
    assert files_under(fresh) == {"staged.py": b"s = 1\n", "train.py": b"t = 1\n"}


def test_outside_git(tmp_path: Path, env: dict[str, str]) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert code_info(plain, env, MemoryBlobs()) == {"git": False}


def test_git_not_installed(workspace: Path, tmp_path: Path, env: dict[str, str]) -> None:
    no_git = tmp_path / "empty-bin"
    no_git.mkdir()
    assert code_info(workspace, {**env, "PATH": str(no_git)}, MemoryBlobs()) == {"git": False}


def test_user_diff_config_does_not_break_the_patch(
    workspace: Path, tmp_path: Path, git: Git, env: dict[str, str]
) -> None:
    write(workspace / "a.py", "".join(f"line {i}\n" for i in range(20)))
    git("add", "a.py", cwd=workspace)
    git("commit", "-q", "-m", "base", cwd=workspace)
    for key, value in [("diff.noprefix", "true"), ("diff.context", "0"), ("color.ui", "always")]:
        git("config", key, value, cwd=workspace)
    write(workspace / "a.py", "".join(f"line {i}\n" for i in range(20) if i != 7))
    blobs = MemoryBlobs()

    info = code_info(workspace, {**env, "GIT_DIFF_OPTS": "--unified=0"}, blobs)

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(workspace), str(clone)], check=True)
    apply_patch(blobs.blobs[info["patch"]], clone, tmp_path, git)
    assert files_under(clone) == files_under(workspace)
