"""The one table of the commands answered without importing typer (`cli/fast.py`): per
command, which arguments and options that path understands and what each becomes, the
keyword arguments of the same CLI function that typer's command calls, with typer's
defaults for the rest. `tests/cli/test_fast_path.py` parses sample command lines both
ways and fails on any difference.
"""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation, and the first compile() of a process costs ~10 M instructions of start-up
# for every command that imports this module.

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

_NONE: Mapping[str, Any] = MappingProxyType({})


class Spec(NamedTuple):
    target: str  # "module:function" that both this path and typer's command call
    positional: tuple[str, ...] = ()  # filled in order; the last ones may be missing
    required: int = 0  # how many positionals must be there
    variadic: str | None = None  # takes every positional (add's paths), `required` or more
    rest: str | None = None  # takes everything after "--"
    rest_required: bool = False
    flags: Mapping[str, str] = _NONE  # option -> boolean parameter
    values: Mapping[str, str] = _NONE  # option -> parameter taking the next argument
    lists: frozenset[str] = frozenset()  # parameters that collect repeated values
    ints: frozenset[str] = frozenset()  # parameters given to the function as ints
    minimum: Mapping[str, int] = _NONE  # int parameter -> the least value typer takes
    paths: frozenset[str] = frozenset()  # parameters given to the function as Paths (or None)
    defaults: Mapping[str, Any] = _NONE  # every other parameter, as typer has it


_JSON = {"--json": "json"}
_NO_JSON: Mapping[str, Any] = MappingProxyType({"json": False})
_REMOTE = {"-r": "remote", "--remote": "remote"}
_OPTIONS = {"-o": "options", "--option": "options"}  # storage options key=value
# The options of a run table (`runs`, `log --table`) and the run filters they share with log.
_TABLE_FLAGS = {"--reverse": "reverse", "--csv": "csv", "--all": "all_runs"}
_TABLE_VALUES = {
    "--where": "where",
    "--command": "command",
    "--sort": "sort",
    "--since": "since",
    "--owner": "owner",
}
_TABLE_DEFAULTS: dict[str, Any] = {
    "where": [],
    "command": None,
    "sort": None,
    "reverse": False,
    "since": None,
    "owner": None,
    "all_runs": False,
    "json": False,
    "csv": False,
}

SPECS: dict[str, Spec] = {
    "status": Spec("mlvc.cli.status:show_status", flags=_JSON, defaults={"json": False}),
    "add": Spec(
        "mlvc.cli.add:add_command",
        variadic="paths",
        required=1,
        flags=_JSON,
        values={"-m": "message", "--message": "message"},
        paths=frozenset({"paths"}),
        defaults={"message": "", "json": False},
    ),
    "checkout": Spec(
        "mlvc.cli.checkout:checkout_command",
        positional=("ref",),
        required=1,
        rest="paths",
        flags={
            **_JSON,
            "--inputs": "inputs",
            "--code": "code",
            "--force": "force",
            "--clean": "clean",
            "--dry-run": "dry_run",
            "--follow-symlinks": "follow_symlinks",
        },
        defaults={
            "paths": [],
            "inputs": False,
            "code": False,
            "force": False,
            "clean": False,
            "dry_run": False,
            "json": False,
            "follow_symlinks": False,
        },
    ),
    "run": Spec(
        "mlvc.cli.run:run_command",
        rest="command",
        rest_required=True,
        flags=_JSON,
        values={
            "-i": "inputs",
            "--input": "inputs",
            "-o": "outputs",
            "--output": "outputs",
            "-p": "params_files",
            "--params": "params_files",
            "-m": "metrics_files",
            "--metrics": "metrics_files",
            "-t": "tags",
            "--tag": "tags",
            "--message": "message",
            "--trace": "trace",
        },
        lists=frozenset({"inputs", "outputs", "params_files", "metrics_files", "tags"}),
        paths=frozenset({"inputs", "outputs", "params_files", "metrics_files"}),
        defaults={
            "inputs": [],
            "outputs": [],
            "params_files": [],
            "metrics_files": [],
            "message": "",
            "tags": [],
            "json": False,
            "trace": None,
        },
    ),
    "log": Spec(
        "mlvc.cli.log:log_command",
        variadic="paths",
        flags={
            **_JSON,
            **_TABLE_FLAGS,
            "--table": "table",
            "--oneline": "oneline",
            "--consumers": "consumers",
        },
        values={**_TABLE_VALUES, "-n": "number", "--max-count": "number", "--skip": "skip"},
        lists=frozenset({"where"}),
        ints=frozenset({"number", "skip"}),
        defaults={
            **_TABLE_DEFAULTS,
            "paths": [],
            "number": None,
            "oneline": False,
            "consumers": False,
            "table": False,
            "skip": 0,
        },
    ),
    "runs": Spec(
        "mlvc.cli.runs:runs_command",
        variadic="targets",
        flags={**_JSON, **_TABLE_FLAGS},
        values={**_TABLE_VALUES, "-n": "limit", "--limit": "limit"},
        lists=frozenset({"where"}),
        ints=frozenset({"limit"}),
        defaults={**_TABLE_DEFAULTS, "targets": [], "limit": None},
    ),
    "diff": Spec(
        "mlvc.cli.diff:diff_command",
        positional=("a", "b"),
        required=1,
        flags={**_JSON, "--all": "all_params", "--content": "content", "--exit-code": "exit_code"},
        defaults={
            "b": None,
            "all_params": False,
            "content": False,
            "exit_code": False,
            "json": False,
        },
    ),
    "init": Spec(
        "mlvc.cli.init:init_command",
        positional=("path",),
        flags=_JSON,
        paths=frozenset({"path"}),
        defaults={"path": ".", "json": False},
    ),
    "show": Spec(
        "mlvc.cli.show:show_run",
        positional=("ref",),
        flags=_JSON,
        defaults={"ref": None, "json": False},
    ),
    "graph": Spec(
        "mlvc.cli.blame:graph_command",
        positional=("target",),
        flags={**_JSON, "--steps": "steps"},
        values={"--format": "fmt"},
        defaults={"target": None, "fmt": "tree", "steps": False, "json": False},
    ),
    "tag": Spec(
        "mlvc.cli.tag:tag_command",
        positional=("name", "run_ref"),
        flags={**_JSON, "-d": "delete", "--delete": "delete", "--history": "history"},
        values={"-m": "message", "--message": "message"},
        defaults={
            "name": None,
            "run_ref": None,
            "delete": False,
            "history": False,
            "message": "",
            "json": False,
        },
    ),
    "cat-object": Spec(
        "mlvc.cli.plumbing:cat_object_command",
        positional=("ref",),
        required=1,
        flags=_JSON,
        defaults={"json": False},
    ),
    "ls-tree": Spec(
        "mlvc.cli.plumbing:ls_tree_command",
        positional=("ref",),
        required=1,
        flags={**_JSON, "-r": "recursive", "--recursive": "recursive"},
        defaults={"recursive": False, "json": False},
    ),
    "hash-object": Spec(
        "mlvc.cli.plumbing:hash_object_command",
        variadic="paths",
        required=1,
        flags=_JSON,
        paths=frozenset({"paths"}),
        defaults={"json": False},
    ),
    "blame": Spec(
        "mlvc.cli.blame:blame_command",
        positional=("target",),
        required=1,
        flags={**_JSON, "--lines": "lines", "--keys": "keys"},
        values={"--depth": "depth"},
        ints=frozenset({"depth"}),
        defaults={"depth": None, "lines": False, "keys": False, "json": False},
    ),
    "rm": Spec(
        "mlvc.cli.rm:rm_command",
        variadic="paths",
        required=1,
        flags={**_JSON, "--cached": "cached", "-f": "force", "--force": "force"},
        paths=frozenset({"paths"}),
        defaults={"cached": False, "force": False, "json": False},
    ),
    "rerun": Spec(
        "mlvc.cli.rerun:rerun_command",
        variadic="targets",
        flags={**_JSON, "--all": "every", "--dry-run": "dry_run", "--force": "force"},
        defaults={"every": False, "dry_run": False, "force": False, "json": False},
    ),
    "reproduce": Spec(
        "mlvc.cli.reproduce:reproduce_command",
        positional=("ref",),
        required=1,
        flags={**_JSON, "--in-place": "in_place", "--keep": "keep"},
        defaults={"in_place": False, "keep": False, "json": False},
    ),
    # Remotes. `push --all` (exclusive with targets, a check typer's command makes) is
    # left to typer.
    "push": Spec(
        "mlvc.cli.remote:push_command",
        variadic="targets",
        flags=_JSON,
        values={**_REMOTE, "-j": "jobs", "--jobs": "jobs"},
        ints=frozenset({"jobs"}),
        minimum={"jobs": 1},
        defaults={"remote": None, "jobs": 8, "json": False},
    ),
    "fetch": Spec(
        "mlvc.cli.transfer:fetch_command",
        flags=_JSON,
        values=_REMOTE,
        defaults={"remote": None, "json": False},
    ),
    "pull": Spec(
        "mlvc.cli.transfer:pull_command",
        variadic="targets",
        flags=_JSON,
        values=_REMOTE,
        defaults={"remote": None, "json": False},
    ),
    "clone": Spec(
        "mlvc.cli.transfer:clone_command",
        positional=("url", "directory"),
        required=1,
        flags=_JSON,
        values=_OPTIONS,
        lists=frozenset({"options"}),
        paths=frozenset({"directory"}),
        defaults={"directory": None, "json": False},
    ),
    "remote add": Spec(
        "mlvc.cli.remote:remote_add_command",
        positional=("name", "url"),
        required=2,
        flags={**_JSON, "--default": "default"},
        values=_OPTIONS,
        lists=frozenset({"options"}),
        defaults={"default": False, "json": False},
    ),
    "remote list": Spec("mlvc.cli.remote:remote_list_command", flags=_JSON, defaults=_NO_JSON),
    "remote remove": Spec(
        "mlvc.cli.remote:remote_remove_command",
        positional=("name",),
        required=1,
        flags=_JSON,
        defaults=_NO_JSON,
    ),
    # Store maintenance (`purge` is left to typer).
    "fsck": Spec(
        "mlvc.cli.fsck:fsck_command",
        flags={**_JSON, "--full": "full", "--repair": "repair"},
        defaults={"full": False, "repair": False, "json": False},
    ),
    "gc": Spec(
        "mlvc.cli.gc:gc_command",
        flags={**_JSON, "--apply": "apply"},
        values={"--grace": "grace"},
        defaults={"apply": False, "grace": "2h", "json": False},
    ),
    "forget": Spec(
        "mlvc.cli.gc:forget_command",
        variadic="refs",
        required=1,
        flags={**_JSON, "--force": "force"},
        defaults={"force": False, "json": False},
    ),
    "index rebuild": Spec("mlvc.cli.index:rebuild_command", flags=_JSON, defaults=_NO_JSON),
}
GROUPS = frozenset({"remote", "index"})  # commands named by two words, as "remote add"
