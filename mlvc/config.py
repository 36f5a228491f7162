"""The repository config `.mlvc/config.toml`: format version and fixed chunking parameters."""

from __future__ import annotations

from typing import NamedTuple

from mlvc.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

FORMAT = 1


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


class Config(NamedTuple):
    format: int
    chunking: ChunkParams

    def render(self) -> str:
        lines = [
            "# mlvc repository config. Chunking parameters never change for a repository.",
            "[core]",
            f"format = {self.format}",
            "",
            "[chunking]",
        ]
        for key, value in self.chunking.to_config().items():
            lines.append(f'{key} = "{value}"' if isinstance(value, str) else f"{key} = {value}")
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
    return _parse(path, text)


def _parse(path: Path, text: str) -> Config:
    import tomllib

    try:
        raw = tomllib.loads(text)
        core, chunking = raw["core"], raw["chunking"]
        if core["format"] != FORMAT:
            raise ConfigError(
                f"repository format {core['format']} in {path} is not supported",
                hint=f"this mlvc reads format {FORMAT}; upgrade mlvc",
            )
        if chunking.get("algorithm") != "fastcdc2020":
            raise ConfigError(f"unknown chunking algorithm in {path}")
        params = ChunkParams(
            int(chunking["min_size"]),
            int(chunking["avg_size"]),
            int(chunking["max_size"]),
            int(chunking["seed"]),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"cannot read repository config {path}: {exc}") from None
    return Config(FORMAT, params)


_DEFAULT_TEXT = default().render()
