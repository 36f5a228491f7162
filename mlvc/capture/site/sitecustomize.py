"""mlvc tracer, put on PYTHONPATH by `mlvc run`: records the files this process opens, the
processes it starts and the modules it imported, into the run's spool directory.

Standalone on purpose (stdlib only, no mlvc import): the traced interpreter may be any
Python, in any virtualenv, without mlvc installed. It must never break the user's program:
every failure inside the hook is swallowed.
"""

import os
import sys


def _install() -> None:
    spool = os.environ.get("MLVC_SPOOL")
    if not spool or getattr(sys, "_mlvc_traced", False):
        return
    sys._mlvc_traced = True  # type: ignore[attr-defined]
    import atexit
    import json
    from _thread import get_ident

    start_cwd = os.getcwd()
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    state: dict = {"pid": None, "fd": -1, "seen": set()}
    busy: set = set()

    def emit(record: list) -> None:
        pid = os.getpid()
        if state["pid"] != pid:  # first event, or a forked child: its own spool file
            state["pid"], state["seen"] = pid, set()
            name = os.path.join(spool, f"{pid}.trace")
            state["fd"] = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.write(state["fd"], (json.dumps(["start", os.getppid()]) + "\n").encode())
        os.write(state["fd"], (json.dumps(record) + "\n").encode("utf-8", "surrogateescape"))

    def hook(event: str, args: tuple) -> None:
        if event not in _EVENTS:
            return
        me = get_ident()
        if me in busy:
            return
        busy.add(me)
        try:
            if event == "open":
                path, mode, flags = args
                if path is None or isinstance(path, int):
                    return
                path = os.path.abspath(os.fsdecode(path))
                if mode is None:
                    writing = bool((flags or 0) & write_flags)
                else:
                    writing = any(c in mode for c in "wax+")
                key = (path, writing)
                if key not in state["seen"]:
                    state["seen"].add(key)
                    emit(["w" if writing else "r", path])
            else:
                emit(["exec", event, repr(args[0])[:500]])
        except Exception:
            pass
        finally:
            busy.discard(me)

    def report() -> None:
        me = get_ident()
        busy.add(me)
        try:
            files = {}
            for name, module in list(sys.modules.items()):
                file = getattr(module, "__file__", None)
                if isinstance(file, str):
                    files[name] = os.path.join(start_cwd, file)
            # __main__.__file__ is gone by exit time: the script is argv[0].
            script = sys.argv[0] if sys.argv and isinstance(sys.argv[0], str) else ""
            main = os.path.join(start_cwd, script) if os.path.isfile(script) else None
            emit(
                [
                    "python",
                    {
                        "executable": sys.executable,
                        "version": sys.version.split()[0],
                        "implementation": sys.implementation.name,
                        "prefix": sys.prefix,
                        "base_prefix": sys.base_prefix,
                        "path": [p for p in sys.path if isinstance(p, str)],
                        "argv": [a for a in sys.argv if isinstance(a, str)],
                        "main": main,
                        "modules": files,
                    },
                ]
            )
        except Exception:
            pass

    sys.addaudithook(hook)
    atexit.register(report)


_EVENTS = frozenset(
    {"open", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.system"}
)


def _chain() -> None:
    """Run the sitecustomize this one shadows, if any, as Python would have."""
    here = os.path.dirname(os.path.abspath(__file__))
    import importlib.util

    for entry in sys.path:
        if not entry or os.path.abspath(entry) == here:
            continue
        candidate = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_mlvc_chained_sitecustomize", candidate)
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                try:
                    spec.loader.exec_module(module)
                except Exception:
                    pass
            return


_install()
_chain()
