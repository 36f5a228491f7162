"""Parameters and metrics of a run: config files it read, its arguments, metrics it wrote."""

from __future__ import annotations

import datetime
import json
import math
import os
import re
from typing import Any, NamedTuple

from mlvc import overrides
from mlvc.paths import Globs

MAX_CONFIG_BYTES = 256 << 10
MAX_CONFIG_LEAVES = 1000
MAX_LIST_ITEMS = 16
MAX_JSON_DEPTH = 8
MAX_METRICS_BYTES = 4 << 20
# Flattening stops descending here: YAML anchors can build a structure that contains itself.
_MAX_DEPTH = 32
# Values visited before a file is declared too big; YAML aliases can make a small file
# expand to billions of values.
_CONFIG_BUDGET = 10 * MAX_CONFIG_LEAVES
_METRICS_BUDGET = 100_000
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_BOM = b"\xef\xbb\xbf"

# Files that parse as configs but describe tooling, not the run.
_NOT_CONFIGS = frozenset(
    {"pyproject.toml", "package.json", "package-lock.json", "tsconfig.json", "composer.json"}
)
CONFIG_SUFFIXES = frozenset({".yaml", ".yml", ".toml", ".json"})
_METRICS_SUFFIXES = frozenset({".json", ".yaml", ".yml"})

_PYTHON = re.compile(r"(python|pypy)[0-9.]*[dmtw]?(\.exe)?", re.IGNORECASE)
_PYTHON_OPTIONS_WITH_ARG = frozenset({"-W", "-X", "--check-hash-based-pycs"})
_OPTION_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

_SKIP = object()


class _TooLargeError(Exception):
    """More values than a config or metrics file plausibly holds."""


class _Flattener:
    """A depth-first walk writing `a.b.c` leaves into `out`, giving up past `budget` values."""

    def __init__(self, budget: int | None = None, numbers_only: bool = False) -> None:
        self.out: dict[str, Any] = {}
        self.budget = budget
        self.numbers_only = numbers_only

    def visit(self, value: Any, key: str, depth: int) -> None:
        if self.budget is not None:
            self.budget -= 1
            if self.budget < 0:
                raise _TooLargeError
        if isinstance(value, dict):
            if depth < _MAX_DEPTH:
                for name, item in value.items():
                    self.visit(item, f"{key}.{name}" if key else str(name), depth + 1)
        elif isinstance(value, list | tuple):
            if not self.numbers_only:
                self._sequence(value, key, depth)
        elif self.numbers_only:
            if _is_number(value):
                self.out[key] = value
        else:
            scalar = _scalar(value)
            if scalar is not _SKIP:
                self.out[key] = scalar

    def _sequence(self, items: list[Any] | tuple[Any, ...], key: str, depth: int) -> None:
        """A short list of scalars is one value; a short list of structures is indexed."""
        if len(items) > MAX_LIST_ITEMS or depth >= _MAX_DEPTH:
            return
        scalars = [_scalar(item) for item in items]
        if all(scalar is not _SKIP for scalar in scalars):
            self.out[key] = scalars
            return
        for index, item in enumerate(items):
            self.visit(item, f"{key}.{index}" if key else str(index), depth + 1)


def _scalar(value: Any) -> Any:
    """The value as a canonical scalar, or _SKIP when it is not one."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else _int_text(value)
    if isinstance(value, float):
        # NaN never equals itself, so as a float it would show as a change in every diff.
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return _SKIP


def _int_text(value: int) -> Any:
    # Past int64 msgpack cannot encode it; seeds such as 128-bit entropy survive as text.
    try:
        return str(value)
    except ValueError:
        return _SKIP


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return _INT64_MIN <= value <= _INT64_MAX
    return isinstance(value, float)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as `prefix.a.b.c` keys with scalar values.

    A list of at most MAX_LIST_ITEMS scalars is kept as a list, a short list holding
    mappings or lists is indexed (`a.0.b`), a longer list is dropped. Dates become
    ISO-8601 text, non-finite floats and integers beyond int64 become text.
    """
    flattener = _Flattener()
    flattener.visit(value, prefix, 0)
    return flattener.out


# Configs a run reads that describe its plumbing, not its params: Kedro's data catalog
# (dataset types and paths: with logging.yml, ~55 keys a run in the spaceflights
# starter), Kedro's other credentials files (`credentials*`; `credentials.*` and
# `conf/local/` are credentials everywhere: see secrets.py), logging, Spark and MLflow
# settings, MLflow's file store, CI, docs, container and environment files. Globs as
# in `[params]`.
DEFAULT_EXCLUDE = (
    "catalog*", "*/catalog/*", "credentials*", "logging*", "spark.y*ml", "mlflow.y*ml",
    "mlruns/*", "*/mlruns/*", ".pre-commit-config.y*ml", ".github/*", ".gitlab-ci.y*ml",
    "docker-compose*", "compose.y*ml", "mkdocs.y*ml", ".readthedocs.y*ml",
    "environment.y*ml", "dvc.yaml", ".dvc/*",
)  # fmt: skip
# JSON is as often data (a model, features) as config: a JSON input counts as a config
# only by its name. YAML and TOML inputs are configs whenever they parse as one.
_JSON_CONFIG = re.compile(r"param|conf|hparam|setting|args|opts|options", re.IGNORECASE)
_DEFAULT_EXCLUDE = Globs(DEFAULT_EXCLUDE)


class ParamsFiles:
    """Which of the files a run read are its params files: those `include` names (when
    given) or else the default choice (YAML and TOML files, JSON files named like a
    config, none of DEFAULT_EXCLUDE), never those `exclude` names."""

    __slots__ = ("_exclude", "_include")

    def __init__(self, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> None:
        self._include = Globs(include)
        self._exclude = Globs(exclude)

    def chosen(self, rel: str) -> bool:
        name = rel.rpartition("/")[2]
        if os.path.splitext(name)[1].lower() not in CONFIG_SUFFIXES:
            return False  # never parsed: spares reading every data file a run read
        if self._exclude.match(rel, name):
            return False
        if self._include:
            return self._include.match(rel, name)
        if _DEFAULT_EXCLUDE.match(rel, name):
            return False
        return not name.lower().endswith(".json") or bool(_JSON_CONFIG.search(name))


def config_params(path: str, data: bytes) -> dict[str, Any] | None:
    """Flattened leaves of a yaml/toml/json config the run read; None when it is no config.

    Not a config: an unknown suffix, unparsable bytes, a document that is not a mapping,
    over MAX_CONFIG_BYTES or MAX_CONFIG_LEAVES, a metrics file, a tool file such as
    pyproject.toml, or JSON that looks like data (a list longer than MAX_LIST_ITEMS or
    nesting deeper than MAX_JSON_DEPTH), so that features.json is not taken for a config.
    """
    name = os.path.basename(path).lower()
    if len(data) > MAX_CONFIG_BYTES or name in _NOT_CONFIGS or is_metrics_file(path):
        return None
    suffix = os.path.splitext(name)[1]
    if suffix not in CONFIG_SUFFIXES:
        return None
    document = _load(suffix, data)
    if not isinstance(document, dict):
        return None
    if suffix == ".json" and _data_like(document, 1):
        return None
    flattener = _Flattener(budget=_CONFIG_BUDGET)
    try:
        flattener.visit(document, "", 0)
    except _TooLargeError:
        return None
    return flattener.out if len(flattener.out) <= MAX_CONFIG_LEAVES else None


def _load(suffix: str, data: bytes) -> Any:
    """The parsed document, or None when it does not parse."""
    if suffix in (".yaml", ".yml"):
        return _load_yaml(data)
    try:
        if suffix == ".json":
            return json.loads(data.removeprefix(_BOM))
        if suffix == ".toml":
            import tomllib  # ~5 ms: most runs read no TOML config

            return tomllib.loads(data.removeprefix(_BOM).decode("utf-8"))
    except (ValueError, RecursionError):
        # JSONDecodeError, TOMLDecodeError and UnicodeDecodeError are all ValueErrors.
        return None
    return None


def _load_yaml(data: bytes) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        # The C safe loader parses about ten times faster than the pure Python one.
        return yaml.load(data, Loader=loader)
    except (yaml.YAMLError, ValueError, RecursionError):
        return None


def _data_like(value: Any, depth: int) -> bool:
    if not isinstance(value, dict | list):
        return False
    if depth > MAX_JSON_DEPTH:
        return True
    items = value.values() if isinstance(value, dict) else value
    if isinstance(value, list) and len(value) > MAX_LIST_ITEMS:
        return True
    return any(_data_like(item, depth + 1) for item in items)


# Options that only carry overrides (`--params a=1,b=2`, `--set a.b=c`), not params of
# their own. Any other long option followed by an override is taken for a flag.
_CARRIERS = frozenset({"params", "param", "set", "override", "overrides", "cfg_options", "opts"})


class CommandLine(NamedTuple):
    """The params of a command line."""

    options: dict[str, Any]  # `--name value`, recorded as `args.name`
    overrides: dict[str, Any]  # `key=value` and friends, flattened: they replace file values
    deleted: set[str]  # `~key`: the key and the keys under it are dropped

    def override(self, values: dict[str, Any]) -> dict[str, Any]:
        """A config file's `values` without the keys this command line overrides or deletes."""
        gone = set(self.overrides) | self.deleted
        dotted = tuple(f"{key}." for key in self.deleted)
        return {k: v for k, v in values.items() if k not in gone and not k.startswith(dotted)}


def argv_params(argv: list[str]) -> CommandLine:
    """Parameters from a command line: `--name value`, `--name=value` options, and
    overrides as users pass them (see mlvc/overrides.py): Hydra's `key=value`, `+key=`,
    `++key=` and `~key`, and `key=value` lists given to any option (`--params a=1,b=2`,
    `--set a.b=c`, `-p a=b`).

    The program (and, for a Python interpreter, its own options and the script or `-m`
    module) is skipped. A `--flag` with no value is True; other short options are
    ignored; `--` ends the options. Option names have their dashes turned into
    underscores; override keys are kept as written, to match the config keys they replace.
    """
    args = _script_args(argv)
    line = CommandLine({}, {}, set())
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            break
        if _assign(line, arg) or not arg.startswith("--"):
            continue
        name, sep, value = arg[2:].partition("=")
        if not _OPTION_NAME.fullmatch(name):
            continue
        key = _key(name)
        following = args[index] if index < len(args) else None
        if sep:
            if not _assign(line, value):
                line.options[key] = overrides.scalar(value)
        elif following is not None and overrides.parse(following) is not None:
            if key not in _CARRIERS:
                line.options[key] = True
        elif following is not None and _is_value(following):
            line.options[key] = overrides.scalar(following)
            index += 1
        else:
            line.options[key] = True
    return line


def _assign(line: CommandLine, word: str) -> bool:
    """Apply the overrides in `word` to `line`; False when it holds none."""
    found = overrides.parse(word)
    for assignment in found or ():
        key = assignment.key
        if assignment.prefix == "~" or assignment.value is None:
            dotted = f"{key}."
            for gone in [k for k in line.overrides if k == key or k.startswith(dotted)]:
                del line.overrides[gone]
            line.deleted.add(key)
            continue
        line.overrides.update(flatten(overrides.value(assignment.value), prefix=key))
    return found is not None


def _script_args(argv: list[str]) -> list[str]:
    """The arguments after the program, or after a Python interpreter's script or module."""
    if not argv:
        return []
    if not _PYTHON.fullmatch(os.path.basename(argv[0])):
        return argv[1:]
    index = 1
    while index < len(argv):
        arg = argv[index]
        if arg in ("-m", "-c"):
            return argv[index + 2 :]
        if arg[:2] in ("-m", "-c") or arg == "-":
            return argv[index + 1 :]
        if arg in _PYTHON_OPTIONS_WITH_ARG:
            index += 2
        elif arg.startswith("-"):
            index += 1
        else:
            return argv[index + 1 :]
    return []


def _key(name: str) -> str:
    return name.replace("-", "_")


def _is_value(token: str) -> bool:
    if not token.startswith("-") or token == "-":
        return True
    return overrides.is_number(token)


def is_metrics_file(path: str) -> bool:
    """metrics.json and any *metrics*.json/.yaml/.yml, in any case."""
    stem, suffix = os.path.splitext(os.path.basename(path).lower())
    return suffix in _METRICS_SUFFIXES and "metrics" in stem


def metrics_from(path: str, data: bytes) -> dict[str, float | int]:
    """Numeric leaves (bools excluded, lists skipped) of a metrics file; {} when unparsable.

    NaN and infinities are kept: a loss that became NaN is the result worth recording.
    """
    if len(data) > MAX_METRICS_BYTES:
        return {}
    document = _load(os.path.splitext(path.lower())[1], data)
    if not isinstance(document, dict):
        return {}
    flattener = _Flattener(budget=_METRICS_BUDGET, numbers_only=True)
    try:
        flattener.visit(document, "", 0)
    except _TooLargeError:
        return {}
    return flattener.out
