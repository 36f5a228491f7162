"""What a run is asked to be: the command, where it runs, and what the user declared."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlvc.ids import ObjectId


@dataclass(frozen=True)
class RunRequest:
    argv: list[str]
    cwd: Path
    env: Mapping[str, str]
    inputs: list[Path] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    params_files: list[Path] = field(default_factory=list)
    metrics_files: list[Path] = field(default_factory=list)
    message: str = ""
    tags: tuple[str, ...] = ()
    reproduces: ObjectId | None = None
    terminal: tuple[int, int] = (1, 2)
    trace: str | None = None
    """The capture mode asked for (see mlvc.capture.observer.MODES); None: the config's."""
    track: bool = True
    """False in a scratch workspace: record the run, but leave the tracked paths and the
    stat cache (which describe the user's workspace) alone."""
