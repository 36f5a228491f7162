"""The Python API: `mlvc.log_param`, `log_metric`, `log_input`, `log_output`, `start_run`.

Under `mlvc run` the calls feed the run being recorded (through its spool directory,
named by MLVC_SPOOL in this process's environment). Inside `with mlvc.start_run():` they
feed that run. Anywhere else they warn once and do nothing. This module is the library's
second entry point beside the CLI, so, like the CLI, it reads the environment and cwd.

It imports only the stdlib at module level, and so does `mlvc/__init__.py`: under `mlvc
run`, an interpreter whose environment lacks mlvc imports these two files from mlvc's own
installation (capture/site/sitecustomize.py), without mlvc's dependencies.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_active: dict[str, Any] = {"spool": None}
_warned: list[bool] = []


def _spool() -> str | None:
    return _active["spool"] or os.environ.get("MLVC_SPOOL") or None


def _send(record: list[Any]) -> None:
    spool = _spool()
    if spool is None:
        if not _warned:
            _warned.append(True)
            warnings.warn(
                "mlvc: no run is being recorded (use `mlvc run -- ...` or `mlvc.start_run()`);"
                " logging calls are ignored",
                stacklevel=3,
            )
        return
    line = json.dumps(record, default=str) + "\n"
    with open(os.path.join(spool, f"{os.getpid()}.api"), "a", encoding="utf-8") as handle:
        handle.write(line)


def log_param(key: str, value: Any) -> None:
    """Record a parameter (a scalar: str, int, float, bool or None)."""
    _send(["param", str(key), value])


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Record a metric value; with `step`, one point of a series (the last step is the
    run's value for `key`, the whole series is stored)."""
    _send(["metric", str(key), float(value), step])


def log_input(path: str | os.PathLike[str]) -> None:
    """Declare a file or directory the run read (when tracing cannot see it)."""
    _send(["input", os.path.abspath(path)])


def log_output(path: str | os.PathLike[str]) -> None:
    """Declare a file or directory the run wrote."""
    _send(["output", os.path.abspath(path)])


@contextmanager
def start_run(name: str = "", message: str = "") -> Iterator[None]:
    """Record the block as a run, from inside this process (a notebook, a script):

    with mlvc.start_run(name="baseline"):
        model = train(...)
    """
    # Checked before the imports: under `mlvc run` in an environment without mlvc's
    # dependencies (see the module docstring), they would fail first, less clearly.
    if _spool() is not None:
        raise RuntimeError("a run is already being recorded in this process")
    from mlvc.capture import process
    from mlvc.capture.request import RunRequest
    from mlvc.porcelain.run import Session
    from mlvc.repo import Repo

    cwd = Path.cwd()
    repo = Repo.discover(cwd)
    argv = [sys.executable, *sys.argv] if sys.argv and sys.argv[0] else [sys.executable]
    request = RunRequest(
        argv=argv,
        cwd=cwd,
        env=dict(os.environ),
        message=message or name,
        tags=(name,) if name else (),
    )
    session = Session.begin(repo, request)
    tracer = _tracer()
    tracer.install(str(session.spool))
    _active["spool"] = str(session.spool)
    status = "ok"
    clock = process.Clock()
    try:
        yield
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except BaseException:
        status = "failed"
        raise
    finally:
        tracer.report(str(cwd))
        tracer.uninstall()
        _active["spool"] = None
        try:
            session.conclude(clock.finished(status))
        finally:
            session.close()
            repo.close()


def _tracer() -> Any:
    """The tracer module that `mlvc run` injects, loaded under a private name."""
    import importlib.util

    path = Path(__file__).parent / "capture" / "site" / "sitecustomize.py"
    spec = importlib.util.spec_from_file_location("mlvc._tracer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
