"""The one top-level handler: expected errors exit 1, usage 2, bugs 3 with a crash log, ^C 130."""

from __future__ import annotations

import os
import sys

from mlvc.errors import MlvcError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def run(args: list[str]) -> int:
    try:
        return _dispatch(args)
    except MlvcError as exc:
        _say(f"error: {exc.message}")
        if exc.hint:
            _say(f"hint: {exc.hint}")
        return exc.exit_code
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`mlvc log | head`): not our failure.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        usage = _usage_exit(exc)
        if usage is not None:
            return usage
        log = _crash_log()
        _say(f"error: mlvc hit a bug; details are in {log}")
        _say("hint: please report it with that file attached")
        return 3


def _dispatch(args: list[str]) -> int:
    from mlvc.cli import fast

    if fast.handles(args):
        return fast.run(args)
    from mlvc.cli.app import command

    return int(command().main(args, prog_name="mlvc", standalone_mode=False) or 0)


def _usage_exit(exc: Exception) -> int | None:
    """Exit codes for typer's own exceptions (usage errors, --help, aborts)."""
    if "mlvc.cli.app" not in sys.modules:
        return None
    from mlvc.cli.app import usage_errors

    click_error, abort, leave = usage_errors()
    problem: Any = exc
    if isinstance(exc, leave):
        return int(problem.exit_code)
    if isinstance(exc, abort):
        _say("interrupted")
        return 130
    if isinstance(exc, click_error):
        import io

        from mlvc.cli.render import shown

        text = io.StringIO()
        problem.show(file=text)  # names the user's arguments: escaped like any user text
        sys.stderr.write(shown(text.getvalue(), block=True))
        return int(problem.exit_code)
    return None


def _say(line: str) -> None:
    from mlvc.cli.render import shown

    # Messages name user paths: escaped, so a name cannot drive the terminal.
    sys.stderr.write(shown(line, block=True) + "\n")
    sys.stderr.flush()


def _crash_log() -> str:
    """A crash report only its owner can read, with the argv's secret values redacted and
    the known secret values of the environment scrubbed from the traceback."""
    import shlex
    import time
    import traceback

    from mlvc import secrets

    redacted = secrets.redact_argv(sys.argv)
    scrub = secrets.Scrubber(secrets.known_values(os.environ, redacted.values))
    text = f"mlvc {shlex.join(redacted.argv)}\n\n{traceback.format_exc()}"
    name = f"mlvc-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    path = os.path.join(_crash_dir(), name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    # backslashreplace: argv or a traceback may hold a name that is not UTF-8.
    with open(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
        handle.write(scrub.text(text))
    return path


def _crash_dir() -> str:
    """`.mlvc/logs/` of the repository here; outside one (or when it is unwritable), the
    user's state directory ($XDG_STATE_HOME/mlvc/logs, ~/.local/state/mlvc/logs); as a
    last resort a fresh private temporary directory. Never a world-readable one."""
    import tempfile
    from pathlib import Path

    from mlvc.repo import DIRNAME, find_root

    candidates = []
    try:
        root = find_root(Path.cwd())
    except OSError:
        root = None
    if root is not None:
        candidates.append(root / DIRNAME / "logs")
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    candidates.append(Path(state) / "mlvc" / "logs")
    for directory in candidates:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(directory, os.W_OK):
            return str(directory)
    return tempfile.mkdtemp(prefix="mlvc-crash-")
