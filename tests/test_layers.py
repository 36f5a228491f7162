"""The layering of docs/architecture.md, checked: every import inside `mlvc` (function-level
imports included) points to a lower layer or stays inside its own package, and modules
import each other in no cycle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import mlvc

PACKAGE = Path(mlvc.__file__).parent

# Higher may import lower, never the reverse; a package's modules may import each other.
RANKS = {
    "mlvc.cli": 100,
    "mlvc.__main__": 110,
    "mlvc.ui": 97,
    "mlvc.encode": 96,
    "mlvc": 95,  # the package itself re-exports the Python API
    "mlvc.api": 90,
    "mlvc.porcelain": 80,
    "mlvc.capture": 70,
    "mlvc.lineage": 60,
    "mlvc.workspace": 50,
    "mlvc.recorder": 45,
    "mlvc.repo": 40,
    "mlvc.store": 30,
    "mlvc.forked": 28,  # the store cuts a large file in a forked child (store/cutter.py)
    "mlvc.store.fsutil": 27,  # durable file primitives, for the store and forked alike
    "mlvc.config": 25,
    "mlvc.secrets": 20,
    "mlvc.params": 20,
    "mlvc.git": 20,
    "mlvc.urls": 18,
    "mlvc.overrides": 18,
    "mlvc.objects": 15,
    "mlvc.codec": 10,
    "mlvc.paths": 10,
    "mlvc.ids": 5,
    "mlvc.errors": 0,
    "mlvc.clock": 0,
    "mlvc.heap": 0,
}


def _layer(module: str) -> str:
    """The longest name in RANKS that `module` is or is inside of."""
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        name = ".".join(parts[:size])
        if name in RANKS:
            return name
    raise AssertionError(f"{module} is in no layer: add it to RANKS and docs/architecture.md")


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        if "site" in rel.parts:  # the sitecustomize run inside traced children: no mlvc imports
            continue
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        yield ".".join(parts), path


def _is_module(name: str) -> bool:
    base = PACKAGE.parent / name.replace(".", "/")
    return base.is_dir() or base.with_suffix(".py").exists()


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "mlvc")
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.split(".")[0] == "mlvc"
        ):
            # `from mlvc.capture import tracer` imports the module mlvc.capture.tracer
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                yield full if _is_module(full) else node.module


def _graph() -> dict[str, set[str]]:
    return {name: set(_imports(path)) for name, path in _modules()}


def test_every_import_points_down_the_layers() -> None:
    upward = []
    for module, targets in _graph().items():
        here = _layer(module)
        for target in targets:
            there = _layer(target)
            if there != here and RANKS[there] >= RANKS[here]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports against the layering:\n" + "\n".join(sorted(upward))


def test_no_module_imports_itself_back() -> None:
    graph = {m: {t for t in ts if t != m} for m, ts in _graph().items()}
    seen: set[str] = set()
    cycles = []

    def visit(module: str, stack: list[str]) -> None:
        if module in stack:
            cycles.append(" -> ".join([*stack[stack.index(module) :], module]))
            return
        if module in seen:
            return
        seen.add(module)
        for target in sorted(graph.get(module, ())):
            visit(target, [*stack, module])

    for module in sorted(graph):
        visit(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


SQL = ("SELECT ", "INSERT ", "UPDATE ", "DELETE ", "CREATE ", "DROP ", "REPLACE ", "PRAGMA ")


def test_every_sql_statement_lives_in_the_store() -> None:
    """The store owns the index: no SQL text in a module outside mlvc/store/."""
    outside = []
    for module, path in _modules():
        if module.startswith("mlvc.store"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value.lstrip()  # our SQL is written in capitals
                if text.startswith(SQL) and (
                    " FROM " in text
                    or " INTO " in text
                    or "TABLE" in text
                    or text.startswith("PRAGMA")
                ):
                    outside.append(f"{module}:{node.lineno}: {node.value.strip()[:60]}")
    assert not outside, "SQL outside mlvc/store:\n" + "\n".join(outside)
