"""The git state of a run's code: commit, branch, remote, and a patch of uncommitted sources."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlvc import secrets, urls
from mlvc.errors import MlvcError
from mlvc.git import run_git, start_git

# Untracked files join the patch only when they look like source and are small. Data files
# are lineage: the run records them by content as inputs and outputs in the object store, so
# patching them in would copy a dataset into every run's code record. Credential files
# (mlvc/secrets.py: `.env`, `*.pem`, `secrets.yaml`...) never join it, tracked or not.
# fmt: off
SOURCE_SUFFIXES = frozenset({
    ".py", ".pyi", ".pyx", ".pxd", ".ipynb",
    ".sh", ".bash", ".zsh", ".fish", ".ps1", ".bat",
    ".r", ".rmd", ".jl", ".m", ".sql",
    ".c", ".cc", ".cpp", ".cxx", ".h", ".hh", ".hpp", ".cu", ".cuh",
    ".rs", ".go", ".java", ".kt", ".scala", ".js", ".mjs", ".ts", ".tsx", ".jsx",
    ".lua", ".pl", ".rb", ".php", ".swift", ".proto",
    ".yaml", ".yml", ".toml", ".cfg", ".ini", ".conf", ".json", ".jsonnet", ".j2", ".jinja",
    ".txt", ".md", ".rst", ".in", ".lock",
    ".mk", ".cmake", ".tf", ".hcl", ".nix",
})
SOURCE_NAMES = frozenset({
    "Makefile", "makefile", "GNUmakefile", "Dockerfile", "Containerfile", "Jenkinsfile",
    "Snakefile", "Justfile", "justfile", "Procfile", "Vagrantfile", "Pipfile", "Gemfile",
    ".gitignore", ".gitattributes", ".dockerignore", ".mlvcignore", ".python-version",
    ".tool-versions",
})
# fmt: on
SOURCE_NAME_PREFIXES = ("Dockerfile.", "Containerfile.")
MAX_UNTRACKED_BYTES = 1 << 20

# Fixed diff options, so the patch neither depends on the user's diff config (noprefix,
# context, external drivers, submodule logs would break `git apply`) nor varies between
# machines (full ids and no rename detection keep equal changes byte-identical).
DIFF_OPTIONS = (
    "--binary",
    "--full-index",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-renames",
    "--submodule=short",
    "--unified=3",
    "--diff-algorithm=myers",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)
_STATUS = ("status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all")
_REMOTE = ("config", "--get", "remote.origin.url")


class GitCaptureError(MlvcError):
    pass


@dataclass(frozen=True)
class _Location:
    top: Path  # the work tree's top level; every later git call runs there
    prefix: str  # the workspace relative to `top`, "." when equal
    objects: Path  # the repository's object directory (absolute)


@dataclass(frozen=True)
class _Status:
    commit: str | None
    branch: str | None
    changed: list[bytes]  # tracked paths with staged or unstaged changes, top-relative
    untracked: list[bytes]  # untracked, non-ignored files, top-relative


def strip_credentials(url: str) -> str:
    """Return `url` without a password, token or query string; never raises.

    `https://user:pass@host/x.git` and `https://TOKEN@host/x.git` become `https://host/x.git`;
    `ssh://git@host/x` and scp-like `git@host:org/x.git` keep the user, which is not a secret.
    A password may hold `#`, `?`, `/` or `@` unencoded (see urls.split_userinfo).
    """
    return urls.strip_url(url)


def code_info(
    workspace: Path,
    env: Mapping[str, str],
    store: Callable[[bytes], bytes],
    is_data: Callable[[str], bool] | None = None,
    is_secret: Callable[[str], bool] = secrets.DEFAULT.is_secret_file,
) -> dict[str, Any]:
    """The code a run ran: commit, branch, remote, and the stored patch of uncommitted sources.

    The patch holds staged and unstaged changes of tracked files plus untracked, non-ignored
    source files (see SOURCE_SUFFIXES), as one binary patch against `commit` (the empty tree
    before the first commit): `git apply` on a checkout of `commit` gives the sources back.
    It is built in a scratch index and object directory; the user's repository is not written.
    Returns `{"git": False}` outside a git work tree or when git is not installed.
    `is_data(path)` (workspace-relative) marks untracked files mlvc records as data (run
    outputs, added datasets): they are lineage, recorded by content, not code to patch.
    `is_secret(path)` marks credential files: left out of the patch, tracked or not (the
    commit's version stands in for them), and listed in `withheld`.
    """
    # The three read-only calls run at once, in the workspace: porcelain status paths
    # are relative to the top whatever the directory, and the config is the same repo's.
    status, remote = start_git(_STATUS, workspace, env), start_git(_REMOTE, workspace, env)
    where = _locate(workspace, env)
    listed, origin = status.result(), remote.result()
    if where is None:
        return {"git": False}
    state = _parse_status(_checked(listed, _STATUS, where.top).stdout)
    untracked = _source_files(where.top, state.untracked)
    if is_data is not None:
        untracked = [p for p in untracked if not is_data(_below(p, where.prefix))]
    changed = state.changed + untracked
    withheld = [p for p in changed if is_secret(_below(p, where.prefix))]
    if withheld:
        untracked = [p for p in untracked if p not in withheld]
        changed = [p for p in changed if p not in withheld]
    patch = _patch(where, state.commit, changed, env)
    patch_id = store(patch) if patch else None
    return {
        "git": True,
        "commit": state.commit,
        "branch": state.branch,
        "remote": _remote(origin),
        "dirty": patch_id is not None,
        "patch": patch_id,
        "untracked": [path.decode("utf-8", "replace") for path in untracked],
        "toplevel": where.prefix,
        **({"withheld": sorted(_text(p) for p in withheld)} if withheld else {}),
    }


def _text(path: bytes) -> str:
    return path.decode("utf-8", "replace")


def _below(path: bytes, prefix: str) -> str:
    """A top-relative path as the workspace names it ("" prefix or "." for the top)."""
    text = path.decode("utf-8", "surrogateescape")
    if prefix not in ("", ".") and text.startswith(prefix.rstrip("/") + "/"):
        return text[len(prefix.rstrip("/")) + 1 :]
    return text


def _locate(workspace: Path, env: Mapping[str, str]) -> _Location | None:
    done = run_git(
        ["rev-parse", "--show-toplevel", "--show-prefix", "--git-path", "objects"],
        workspace,
        env,
    )
    if done is None or done.returncode != 0:
        return None
    lines = done.stdout.split(b"\n")
    if len(lines) < 3:
        return None
    top = Path(os.fsdecode(lines[0]))
    prefix = os.fsdecode(lines[1]).rstrip("/")
    # --git-path may answer relative to the workspace, which is `top/prefix`.
    objects = top / prefix / os.fsdecode(lines[2])
    return _Location(top=top, prefix=prefix or ".", objects=objects)


def _parse_status(out: bytes) -> _Status:
    """Parse `git status --porcelain=v2 --branch -z` output."""
    commit: str | None = None
    branch: str | None = None
    changed: list[bytes] = []
    untracked: list[bytes] = []
    records = iter(out.split(b"\0"))
    for record in records:
        if record.startswith(b"# branch.oid "):
            oid = record[len(b"# branch.oid ") :].decode("ascii", "replace")
            commit = None if oid == "(initial)" else oid
        elif record.startswith(b"# branch.head "):
            head = record[len(b"# branch.head ") :].decode("utf-8", "replace")
            branch = None if head == "(detached)" else head
        elif record.startswith(b"1 "):
            changed.append(record.split(b" ", 8)[8])
        elif record.startswith(b"2 "):
            # A rename or copy: the original path follows as its own NUL-terminated field.
            changed += [record.split(b" ", 9)[9], next(records, b"")]
        elif record.startswith(b"u "):
            changed.append(record.split(b" ", 10)[10])
        elif record.startswith(b"? "):
            untracked.append(record[2:])
    return _Status(commit, branch, [path for path in changed if path], untracked)


def _source_files(top: Path, untracked: Iterable[bytes]) -> list[bytes]:
    """The untracked paths worth patching: allowlisted names, regular files up to the cap."""
    chosen = []
    for path in untracked:
        name = os.fsdecode(path.rsplit(b"/", 1)[-1])
        # A trailing slash marks an untracked nested repository, listed as one entry.
        if not name or not is_source_name(name):
            continue
        try:
            info = (top / os.fsdecode(path)).lstat()
        except OSError:  # removed since `git status` listed it
            continue
        if stat.S_ISLNK(info.st_mode) or (
            stat.S_ISREG(info.st_mode) and info.st_size <= MAX_UNTRACKED_BYTES
        ):
            chosen.append(path)
    return sorted(chosen)


def is_source_name(name: str) -> bool:
    """Whether an untracked file called `name` counts as source (see SOURCE_SUFFIXES)."""
    if name in SOURCE_NAMES or name.startswith(SOURCE_NAME_PREFIXES):
        return True
    return os.path.splitext(name)[1].lower() in SOURCE_SUFFIXES


def _patch(
    where: _Location, commit: str | None, paths: list[bytes], env: Mapping[str, str]
) -> bytes:
    """`git diff --binary` of `paths` as in the work tree against `commit`, in a scratch repo."""
    if not paths:
        return b""
    import tempfile  # with `random`, ~8 ms of every run's start-up; most runs need no patch

    with tempfile.TemporaryDirectory(prefix="mlvc-git-") as scratch:
        objects = Path(scratch, "objects")
        objects.mkdir()
        # New blobs go to a scratch object directory; the real one is only read (alternate).
        alternates = [str(where.objects), env.get("GIT_ALTERNATE_OBJECT_DIRECTORIES", "")]
        scratch_env = {
            **env,
            "GIT_INDEX_FILE": str(Path(scratch, "index")),
            "GIT_OBJECT_DIRECTORY": str(objects),
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": os.pathsep.join(filter(None, alternates)),
            "GIT_LITERAL_PATHSPECS": "1",
        }
        if commit is not None:
            _git_ok(["read-tree", commit], where.top, scratch_env)
        add = ["add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul"]
        _git_ok(add, where.top, scratch_env, stdin=b"\0".join(paths))
        base = [commit] if commit is not None else []  # unborn: diff against the empty tree
        return _git_ok(["diff", "--cached", *DIFF_OPTIONS, *base], where.top, scratch_env).stdout


def _remote(done: subprocess.CompletedProcess[bytes] | None) -> str | None:
    """The origin's URL without credentials, from `git config --get remote.origin.url`."""
    if done is None or done.returncode != 0:
        return None
    url = done.stdout.decode("utf-8", "replace").strip()
    return strip_credentials(url) if url else None


def _git_ok(
    args: Sequence[str], top: Path, env: Mapping[str, str], stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return _checked(run_git(args, top, env, stdin), args, top)


def _checked(
    done: subprocess.CompletedProcess[bytes] | None, args: Sequence[str], top: Path
) -> subprocess.CompletedProcess[bytes]:
    if done is None:
        raise GitCaptureError(f"git {args[0]} could not run in {top}", hint="is git installed?")
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()
        raise GitCaptureError(f"git {args[0]} failed in {top}: {detail}")
    return done
