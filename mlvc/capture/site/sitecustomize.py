"""mlvc tracer, put on PYTHONPATH by `mlvc run`: records the files this process opens, the
processes it starts and the modules it imported, into the run's spool directory; and lets
`import mlvc` work in an environment without mlvc (see `_MlvcFinder`).

Standalone on purpose (stdlib only, no mlvc import): the traced interpreter may be any
Python, in any virtualenv, without mlvc installed. It must never break the user's program:
every failure inside the hook is swallowed. `mlvc.start_run` loads this file as a module
and calls `install`/`uninstall` to trace its own process.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every child ~5 ms
if TYPE_CHECKING:
    from typing import Any

_EVENTS = frozenset(
    {"open", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.system"}
)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_state: dict[str, Any] = {"spool": None, "pid": None, "fd": -1, "seen": set(), "hooked": False}
_busy: set[int] = set()


def _emit(record: list[Any]) -> None:
    import json

    pid = os.getpid()
    if _state["pid"] != pid:  # first event, or a forked child: its own spool file
        _state["pid"], _state["seen"] = pid, set()
        name = os.path.join(_state["spool"], f"{pid}.trace")
        _state["fd"] = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    line = json.dumps(record) + "\n"
    os.write(_state["fd"], line.encode("utf-8", "surrogateescape"))


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in _EVENTS or _state["spool"] is None:
        return
    from _thread import get_ident

    me = get_ident()
    if me in _busy:
        return
    _busy.add(me)
    try:
        if event == "open":
            path, mode, flags = args
            if path is None or isinstance(path, int):
                return
            path = os.path.abspath(os.fsdecode(path))
            if mode is None:
                writing = bool((flags or 0) & _WRITE_FLAGS)
            else:
                writing = any(c in mode for c in "wax+")
            key = (path, writing)
            if key not in _state["seen"]:
                _state["seen"].add(key)
                _emit(["w" if writing else "r", path])
        else:
            _emit(["exec", event, repr(args[0])[:500]])
    except Exception:
        pass
    finally:
        _busy.discard(me)


def report(start_cwd: str) -> None:
    """Write what this interpreter is and which modules it imported."""
    if _state["spool"] is None:
        return
    from _thread import get_ident

    _busy.add(get_ident())
    try:
        files = {}
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if isinstance(file, str):
                files[name] = os.path.join(start_cwd, file)
        # __main__.__file__ is gone by exit time: the script is argv[0].
        script = sys.argv[0] if sys.argv and isinstance(sys.argv[0], str) else ""
        main = os.path.join(start_cwd, script) if script and os.path.isfile(script) else None
        info = {
            "executable": sys.executable,
            "version": sys.version.split()[0],
            "implementation": sys.implementation.name,
            "prefix": sys.prefix,
            "base_prefix": sys.base_prefix,
            "path": [p for p in sys.path if isinstance(p, str)],
            "argv": [a for a in sys.argv if isinstance(a, str)],
            "main": main,
            "modules": files,
            "started": _state.get("t0"),
        }
        _emit(["python", info])
    except Exception:
        pass
    finally:
        _busy.discard(get_ident())


def install(spool: str) -> None:
    """Trace this process into `spool` (audit hooks cannot be removed: `uninstall` only
    makes the hook a no-op)."""
    import time

    _state["spool"] = spool
    _state["pid"] = None
    _state["t0"] = time.time()
    if not _state["hooked"]:
        _state["hooked"] = True
        sys.addaudithook(_hook)


def uninstall() -> None:
    _state["spool"] = None
    if _state["fd"] >= 0:
        os.close(_state["fd"])
    _state["fd"], _state["pid"] = -1, None


class _MlvcFinder:
    """Finds `mlvc` for an interpreter whose environment lacks it (mlvc installed with
    pipx, or in another virtualenv): the very package `mlvc run` runs from, whose
    `__init__` and `api` modules import only the stdlib, so that `mlvc.log_metric` and
    the rest write to this run's spool as they do with mlvc installed. It is last on
    `sys.meta_path`: an mlvc the environment has is always found first."""

    def __init__(self, package: str) -> None:
        self.package = package

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "mlvc":
            return None
        import importlib.util

        init = os.path.join(self.package, "__init__.py")
        if not os.path.isfile(init):
            return None
        return importlib.util.spec_from_file_location(
            name, init, submodule_search_locations=[self.package]
        )


def _chain() -> None:
    """Run the sitecustomize this one shadows, if any, as Python would have."""
    import contextlib
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if not entry or os.path.abspath(entry) == here:
            continue
        candidate = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_mlvc_chained_sitecustomize", candidate)
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                with contextlib.suppress(Exception):
                    spec.loader.exec_module(module)
            return


if __name__ == "sitecustomize":
    _spool = os.environ.get("MLVC_SPOOL")
    if _spool and not getattr(sys, "_mlvc_traced", False):
        sys._mlvc_traced = True  # type: ignore[attr-defined]
        import atexit

        install(_spool)
        atexit.register(report, os.getcwd())
        # this file is mlvc/capture/site/sitecustomize.py
        _package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        sys.meta_path.append(_MlvcFinder(_package))
    _chain()
