"""Running git: one way to call it, with an environment that cannot change what it prints
or make it prompt. Every layer that needs git (capture, workspace, lineage) comes here."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

# Variables that would change what git prints (diff options, translations).
_DROPPED_ENV = ("GIT_DIFF_OPTS", "GIT_EXTERNAL_DIFF", "LANGUAGE")


def git_environment(env: Mapping[str, str]) -> dict[str, str]:
    """`env` made safe for a captured git call: no prompts, no index writes, C locale."""
    out = {key: value for key, value in env.items() if key not in _DROPPED_ENV}
    # GIT_OPTIONAL_LOCKS=0 stops `git status` from refreshing (rewriting) the user's index.
    out.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    return out


def run_git(
    args: Sequence[str], cwd: Path, env: Mapping[str, str], stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes] | None:
    """Run `git args` in `cwd`; None when git is not installed or `cwd` does not exist."""
    return StartedGit(args, cwd, env, stdin).result()


class StartedGit:
    """A git call left running while others start (`start_git`); `result` waits for it
    (and, called again, from any thread, gives the same result)."""

    def __init__(
        self, args: Sequence[str], cwd: Path, env: Mapping[str, str], stdin: bytes = b""
    ) -> None:
        self.args = ["git", *args]
        self._stdin = stdin
        try:
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                self.args,
                cwd=cwd,
                env=git_environment(env),
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError:
            self._process = None
        self._done: subprocess.CompletedProcess[bytes] | None = None
        self._waiting = threading.Lock()  # `run` may ask from its loader thread and its own

    def result(self) -> subprocess.CompletedProcess[bytes] | None:
        """The finished call (None when git could not start)."""
        with self._waiting:
            if self._process is None or self._done is not None:
                return self._done
            out, err = self._process.communicate(self._stdin or None)
            self._done = subprocess.CompletedProcess(self.args, self._process.returncode, out, err)
            return self._done


def start_git(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> StartedGit:
    """Start `git args` in `cwd` (no input) without waiting for it: read-only calls that
    do not depend on each other run at once, and cost the wall time of the slowest."""
    return StartedGit(args, cwd, env)
