"""The tracer's two ends: the environment that installs it in a child, and reading its spool."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SITE_DIR = Path(__file__).with_name("site")
SPOOL_VAR = "MLVC_SPOOL"


def child_environment(env: Mapping[str, str], spool: Path) -> dict[str, str]:
    """`env` plus what puts the tracer in every Python process the command starts.

    PYTHONUNBUFFERED keeps a Python child's output live although it goes to a pipe.
    """
    child = dict(env)
    existing = child.get("PYTHONPATH")
    child["PYTHONPATH"] = f"{SITE_DIR}{os.pathsep}{existing}" if existing else str(SITE_DIR)
    child[SPOOL_VAR] = str(spool)
    child.setdefault("PYTHONUNBUFFERED", "1")
    return child


@dataclass
class Trace:
    """What the traced processes reported, merged."""

    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    execs: list[str] = field(default_factory=list)
    pythons: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, list[list[Any]]] = field(default_factory=dict)
    declared_inputs: set[str] = field(default_factory=set)
    declared_outputs: set[str] = field(default_factory=set)
    processes: int = 0


def read_spool(spool: Path) -> Trace:
    """Merge every `*.trace` file; a torn last line (a killed process) is skipped."""
    import json  # on use: not needed to start a command

    trace = Trace()
    for path in sorted([*spool.glob("*.trace"), *spool.glob("*.api")]):
        trace.processes += path.suffix == ".trace"
        for line in path.read_bytes().splitlines():
            try:
                record = json.loads(line.decode("utf-8", "surrogateescape"))
            except ValueError:
                continue
            if isinstance(record, list) and record:
                _apply(trace, record)
    return trace


def _apply(trace: Trace, record: list[Any]) -> None:
    kind = record[0]
    if kind == "r":
        trace.reads.add(record[1])
    elif kind == "w":
        trace.writes.add(record[1])
    elif kind == "exec":
        trace.execs.append(str(record[2]))
    elif kind == "python" and isinstance(record[1], dict):
        trace.pythons.append(record[1])
    elif kind == "param":
        trace.params[str(record[1])] = record[2]
    elif kind == "metric":
        trace.metrics.setdefault(str(record[1]), []).append([record[3], record[2]])
    elif kind == "input":
        trace.declared_inputs.add(record[1])
    elif kind == "output":
        trace.declared_outputs.add(record[1])


def module_files(trace: Trace) -> set[str]:
    """Source files of the modules the traced interpreters imported, and their scripts."""
    files: set[str] = set()
    for info in trace.pythons:
        modules = info.get("modules")
        if isinstance(modules, dict):
            files |= {f for f in modules.values() if isinstance(f, str)}
        main = info.get("main")
        if isinstance(main, str):
            files.add(os.path.abspath(main))
    return {f[:-1] if f.endswith(".pyc") else f for f in files}


_SYSTEM = (
    "/usr/",
    "/etc/",
    "/proc/",
    "/sys/",
    "/dev/",
    "/run/",
    "/lib/",
    "/lib64/",
    "/bin/",
    "/sbin/",
    "/var/lib/",
    "/opt/conda/pkgs/",
    "/tmp/pip-",
)
# Tool and package caches; "/." is any hidden directory or file (~/.cache, ~/.pyenv,
# ~/.julia, ~/.gitconfig): a program's own state, which strict mode sees it read.
_CACHES = ("/.", "/site-packages/", "/dist-packages/", "/__pycache__/", "/node_modules/")


def external_inputs(reads: set[str], trace: Trace) -> dict[str, Any]:
    """Reads outside the workspace that are data, not the interpreter or the system:
    recorded by path, size and mtime (their content is stored only when declared)."""
    prefixes = {
        p
        for info in trace.pythons
        for key in ("prefix", "base_prefix")
        if isinstance(p := info.get(key), str)
    }
    found: dict[str, Any] = {}
    for path in sorted(reads):
        if path.startswith(_SYSTEM) or any(c in path for c in _CACHES):
            continue
        if any(path.startswith(prefix.rstrip("/") + "/") for prefix in prefixes):
            continue
        if path.endswith((".py", ".pyc", ".so", ".pth")) or "/mlvc/capture/site/" in path:
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        if os.path.isfile(path):
            found[path] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return found
