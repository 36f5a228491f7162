"""The one top-level handler: expected errors exit 1, usage 2, bugs 3 with a crash log, ^C 130."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback

from mlvc.errors import MlvcError


def run(args: list[str]) -> int:
    from mlvc.cli.app import command, usage_errors

    click_error, abort, leave = usage_errors()

    try:
        result = command().main(args, prog_name="mlvc", standalone_mode=False)
    except MlvcError as exc:
        _say(f"error: {exc.message}")
        if exc.hint:
            _say(f"hint: {exc.hint}")
        return 1
    except abort:
        return 130
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except leave as exc:
        return int(exc.exit_code)
    except click_error as exc:
        exc.show()
        return int(exc.exit_code)
    except BrokenPipeError:
        # The reader went away (`mlvc log | head`): not our failure.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:
        log = _crash_log()
        _say(f"error: mlvc hit a bug; details are in {log}")
        _say("hint: please report it with that file attached")
        return 3
    return int(result or 0)


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _crash_log() -> str:
    name = f"mlvc-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    path = os.path.join(tempfile.gettempdir(), name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"mlvc {' '.join(sys.argv)}\n\n")
        handle.write(traceback.format_exc())
    return path
