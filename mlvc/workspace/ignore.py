"""Ignore rules: built-in defaults, credential files (mlvc/secrets.py) and `.mlvcignore`
(gitignore syntax) at the root."""

from __future__ import annotations

import os

from mlvc import secrets

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

# Directory names never tracked: VCS and mlvc metadata, caches, virtualenvs. A directory
# holding `pyvenv.cfg` is a virtualenv under any name and is skipped as well.
DEFAULT_DIRS = frozenset(
    {
        ".git",
        ".mlvc",
        ".hg",
        ".svn",
        "__pycache__",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
        "node_modules",
    }
)
DEFAULT_SUFFIXES = (".pyc", ".pyo")
DEFAULT_FILES = frozenset({".DS_Store"})
# What a checkout writes before renaming into place (see mlvc/workspace/materialize.py).
CHECKOUT_TEMP_PREFIX = ".mlvc-checkout-"
IGNORE_FILE = ".mlvcignore"


class Ignore:
    """A plain class: `status` loads it on every run, and dataclasses cost ~15 ms to import."""

    __slots__ = ("secret", "spec")

    def __init__(self, spec: Any | None, rules: secrets.Patterns = secrets.DEFAULT) -> None:
        self.spec = spec  # a pathspec.GitIgnoreSpec, imported only when the file exists
        # Credential files are never stored, so never scanned: no add, run, checkout
        # (`--clean` included) or status sees, stores or deletes them.
        self.secret = rules.is_secret_file

    @classmethod
    def load(cls, root: Path, rules: secrets.Patterns | None = None) -> Ignore:
        """`rules`: the secret patterns, when the caller has the config at hand (a
        scratch workspace has none of its own); else read from `root/.mlvc`."""
        rules = rules if rules is not None else _secret_rules(root)
        path = root / IGNORE_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(None, rules)
        import pathspec

        return cls(pathspec.GitIgnoreSpec.from_lines(text.splitlines()), rules)

    def skips_dir(self, rel: str, name: str, path: Path) -> bool:
        if name in DEFAULT_DIRS or name.startswith(CHECKOUT_TEMP_PREFIX):
            return True  # a checkout's directory being built aside (workspace/staging.py)
        if os.path.exists(os.path.join(path, "pyvenv.cfg")):
            return True
        return self.user_skips(rel + "/")

    def user_skips(self, rel: str) -> bool:
        """Whether `.mlvcignore` alone matches `rel` (a directory ends with `/`)."""
        return self.spec is not None and bool(self.spec.match_file(rel))

    def skips_file(self, rel: str, name: str) -> bool:
        if name in DEFAULT_FILES or name.endswith(DEFAULT_SUFFIXES):
            return True
        if name.startswith(CHECKOUT_TEMP_PREFIX) or self.secret(rel, name):
            return True
        return self.user_skips(rel)

    def covers(self, rel: str) -> bool:
        """Whether the rules skip the file `rel` or a directory above it: a file tracked
        before a rule came to ignore it (status says how to stop tracking it)."""
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            above = "/".join(parts[:depth])
            if parts[depth - 1] in DEFAULT_DIRS or self.user_skips(above + "/"):
                return True
        return self.skips_file(rel, parts[-1])


def _secret_rules(root: Path) -> secrets.Patterns:
    """The repository's secret patterns; the built-in ones where its config is unreadable
    (a scratch workspace has none: its store lives elsewhere)."""
    from mlvc import config
    from mlvc.errors import ConfigError
    from mlvc.repo import DIRNAME

    try:
        rules = config.load(root / DIRNAME / "config.toml").secrets
    except ConfigError:
        return secrets.DEFAULT
    return secrets.patterns(*rules)
