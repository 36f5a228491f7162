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
    import tempfile
    import time
    import traceback

    name = f"mlvc-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    path = os.path.join(tempfile.gettempdir(), name)
    # backslashreplace: argv or a traceback may hold a name that is not UTF-8.
    with open(path, "w", encoding="utf-8", errors="backslashreplace") as handle:
        handle.write(f"mlvc {' '.join(sys.argv)}\n\n")
        handle.write(traceback.format_exc())
    return path
