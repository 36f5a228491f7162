"""The repository config `.mlvc/config.toml`: format version, fixed chunking parameters, the
repository's own secret patterns (optional `[secrets]`), which files are params (optional
`[params]`), how `mlvc run` captures (optional `[run]`) and its remotes (`[remote.NAME]`)."""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation, and the first compile() of a process costs ~10 M instructions of start-up
# for every command that imports this module.

from pathlib import Path
from typing import NamedTuple

from mlvc.errors import ConfigError

FORMAT = 2  # what `init` writes; a store that takes a version-2 pack is raised to it
READS = (1, 2)  # format 1: a store of version-1 packs only, as mlvc wrote before 2
LOCK = "config.lock"  # held (flock) while a command reads, changes and writes the config


class ChunkParams(NamedTuple):
    """Fixed for a repository at `init` (stored in its config): changing them would
    change every chunk boundary and defeat deduplication."""

    min_size: int = 16 << 10
    avg_size: int = 64 << 10
    max_size: int = 256 << 10
    seed: int = 0

    def to_config(self) -> dict[str, int | str]:
        return {
            "algorithm": "fastcdc2020",
            "min_size": self.min_size,
            "avg_size": self.avg_size,
            "max_size": self.max_size,
            "seed": self.seed,
        }


class SecretRules(NamedTuple):
    """Extra glob patterns (`[secrets]`) beside the built-in ones in mlvc/secrets.py:
    `names` of params, options and environment variables whose values are redacted,
    `files` (workspace-relative paths or names) whose bytes are never stored."""

    names: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


class ParamsRules(NamedTuple):
    """Glob patterns (`[params]`) choosing which config files a run reads are params:
    `include` replaces the default choice (mlvc/params.py), `exclude` wins over both."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


Scalar = str | int | bool
TRACE_MODES = ("auto", "inotify", "strict", "python")  # see mlvc.capture.observer


class RunOptions(NamedTuple):
    """`[run]`: `trace`, the capture mode `mlvc run` uses when --trace is not given."""

    trace: str = "auto"


class RemoteConfig(NamedTuple):
    """A remote: a name, an fsspec URL and its storage options (`endpoint_url`,
    `profile`, `client_kwargs.region_name`...: dotted keys are nested tables). Never
    credentials: those come from the environment or the store's own configuration."""

    name: str
    url: str
    default: bool = False
    options: tuple[tuple[str, Scalar], ...] = ()

    def storage_options(self) -> dict[str, object]:
        """The options as fsspec takes them: `a.b = v` becomes `{"a": {"b": v}}`."""
        nested: dict[str, object] = {}
        for key, value in self.options:
            *parents, last = key.split(".")
            table = nested
            for part in parents:
                inner = table.setdefault(part, {})
                if not isinstance(inner, dict):
                    raise ConfigError(f"remote option {key} conflicts with option {part}")
                table = inner
            table[last] = value
        return nested


class Config(NamedTuple):
    format: int
    chunking: ChunkParams
    secrets: SecretRules = SecretRules()
    remotes: tuple[RemoteConfig, ...] = ()
    params: ParamsRules = ParamsRules()
    run: RunOptions = RunOptions()

    def render(self) -> str:
        """The config as this mlvc writes it: always format FORMAT. A config rewritten
        from values read at format 1 (`remote add` while another command raises the
        store, `upgrade.to_format_2`) must not put the old format back over the new."""
        lines = [
            "# mlvc repository config. Chunking parameters never change for a repository.",
            "[core]",
            f"format = {FORMAT}",
            "",
            "[chunking]",
        ]
        for key, value in self.chunking.to_config().items():
            lines.append(f'{key} = "{value}"' if isinstance(value, str) else f"{key} = {value}")
        lines += _render_globs("secrets", self.secrets)
        lines += _render_globs("params", self.params)
        if self.run != RunOptions():
            lines += ["", "[run]", f'trace = "{self.run.trace}"']
        for remote in self.remotes:
            lines += _render_remote(remote)
        return "\n".join(lines) + "\n"


def default() -> Config:
    return Config(FORMAT, ChunkParams())


def load(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read repository config {path}: {exc}") from None
    if text == _DEFAULT_TEXT:  # as `init` wrote it: no TOML parser to import
        return default()
    return parse(path, text)


def parse(path: Path, text: str) -> Config:
    import tomllib

    try:
        raw = tomllib.loads(text)
        core, chunking = raw["core"], raw["chunking"]
        if core["format"] not in READS or type(core["format"]) is not int:
            raise ConfigError(
                f"repository format {core['format']} in {path} is not supported",
                hint=f"this mlvc reads formats {READS[0]} to {READS[-1]}; upgrade mlvc",
            )
        params = _chunk_params(path, chunking)
        secrets = SecretRules(**_globs(path, "secrets", raw, SecretRules._fields))
        remotes = _remotes(path, raw.get("remote", {}))
        chosen = ParamsRules(**_globs(path, "params", raw, ParamsRules._fields))
        run = _run_options(path, raw.get("run", {}))
    except KeyError as exc:
        raise ConfigError(
            f"cannot read repository config {path}: it has no {exc} section or key",
            hint=REPAIR_HINT,
        ) from None
    except (tomllib.TOMLDecodeError, TypeError, ValueError, RecursionError) as exc:
        raise ConfigError(
            f"cannot read repository config {path}: {exc}", hint=REPAIR_HINT
        ) from None
    return Config(core["format"], params, secrets, remotes, chosen, run)


def _run_options(path: Path, table: object) -> RunOptions:
    if not isinstance(table, dict) or not set(table) <= {"trace"}:
        raise ConfigError(f"[run] in {path} may only hold trace", hint='e.g. trace = "strict"')
    trace = table.get("trace", "auto")
    if trace not in TRACE_MODES:
        raise ConfigError(
            f"run.trace in {path} is {trace!r}",
            hint=f"use one of {', '.join(TRACE_MODES)}",
        )
    return RunOptions(trace)


REPAIR_HINT = (
    "fix the file, or run mlvc fsck --repair to write it again from what the index"
    " recorded (the damaged one goes to .mlvc/quarantine/; add remotes again after)"
)

# What the chunker (pyfastcdc) accepts, for min_size, avg_size and max_size.
_CHUNK_RANGES = ((64, 1 << 20), (256, 4 << 20), (1 << 10, 16 << 20))


def _chunk_params(path: Path, table: object) -> ChunkParams:
    if not isinstance(table, dict) or table.get("algorithm") != "fastcdc2020":
        raise ConfigError(f"unknown chunking algorithm in {path}")
    values = [table[key] for key in ChunkParams._fields]
    sizes = values[:3]
    if not all(type(v) is int for v in values) or not 0 <= values[3] < 1 << 64:
        raise ConfigError(f"[chunking] in {path} must hold integers (seed below 2**64)")
    if not all(low <= v <= high for v, (low, high) in zip(sizes, _CHUNK_RANGES, strict=True)):
        raise ConfigError(f"[chunking] sizes in {path} are out of range")
    if not sizes[0] <= sizes[1] <= sizes[2]:
        raise ConfigError(f"[chunking] in {path} needs min_size <= avg_size <= max_size")
    return ChunkParams(*values)


_GLOB_EXAMPLES = {
    "secrets": 'e.g. names = ["*license*"], files = ["conf/prod/*"]',
    "params": 'e.g. include = ["conf/*/parameters*.yml"], exclude = ["conf/*/catalog*"]',
}


def _globs(
    path: Path, section: str, raw: dict[str, object], fields: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    """The lists of glob patterns of an optional section (`[secrets]`, `[params]`)."""
    table = raw.get(section, {})
    if not isinstance(table, dict) or not set(table) <= set(fields):
        raise ConfigError(
            f"[{section}] in {path} may only hold {' and '.join(fields)}",
            hint=_GLOB_EXAMPLES[section],
        )
    found = {}
    for key, value in table.items():
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{section}.{key} in {path} must be a list of glob patterns")
        found[key] = tuple(value)
    return found


def _render_globs(section: str, rules: SecretRules | ParamsRules) -> list[str]:
    if not any(rules):
        return []
    import json  # a JSON array of strings is a TOML array of strings

    lines = ["", f"[{section}]"]
    return lines + [f"{key} = {json.dumps(list(value))}" for key, value in rules._asdict().items()]


def _render_remote(remote: RemoteConfig) -> list[str]:
    import json  # JSON strings are TOML basic strings; true/false and ints agree too

    lines = ["", f"[remote.{remote.name}]", f"url = {json.dumps(remote.url)}"]
    if remote.default:
        lines.append("default = true")
    if remote.options:
        lines += ["", f"[remote.{remote.name}.options]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in remote.options]
    return lines


def _remotes(path: Path, table: object) -> tuple[RemoteConfig, ...]:
    if not isinstance(table, dict):
        raise ConfigError(f"[remote] in {path} must be a table of remotes")
    found = []
    for name, body in table.items():
        if not isinstance(body, dict) or not isinstance(body.get("url"), str):
            raise ConfigError(f"remote {name} in {path} has no url")
        if not set(body) <= {"url", "default", "options"}:
            raise ConfigError(f"remote {name} in {path} may only hold url, default and options")
        options = tuple(_flatten(body.get("options", {}), ""))
        found.append(RemoteConfig(name, body["url"], body.get("default") is True, options))
    return tuple(found)


def _flatten(table: object, prefix: str) -> list[tuple[str, Scalar]]:
    if not isinstance(table, dict):
        raise ValueError(f"remote options{' ' + prefix if prefix else ''} must be a table")
    flat: list[tuple[str, Scalar]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            flat += _flatten(value, f"{prefix}{key}.")
        elif isinstance(value, str | int | bool):
            flat.append((f"{prefix}{key}", value))
        else:
            raise ValueError(f"remote option {prefix}{key} must be a string, number or boolean")
    return flat


_DEFAULT_TEXT = default().render()
