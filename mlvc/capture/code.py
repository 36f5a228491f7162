"""The code a run ran, taken before it starts: git's commit, branch, remote and patch of
uncommitted sources, with credential files left out (by name, or a config file that sets
a secret-looking key or holds a URL's password). Light to import: it runs while the
command waits to start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from mlvc import secrets, urls
from mlvc.capture import gitinfo
from mlvc.repo import Repo


def capture(repo: Repo, env: Mapping[str, str], rules: secrets.Patterns) -> dict[str, Any]:
    """The run's `code` section; a failure of git is recorded in it, never raised."""
    try:
        return gitinfo.code_info(
            repo.root,
            env,
            # The store and index open only when there is a patch or an untracked source.
            lambda data: repo.store.put_bytes(data),
            lambda rel: repo.index.is_tracked(rel),
            lambda rel: rules.is_secret_file(rel) or holds_secrets(repo, rules, rel),
        )
    except gitinfo.GitCaptureError as exc:
        return {"git": None, "error": exc.message}
    except Exception as exc:  # the command runs regardless: record why code is missing
        return {"git": None, "error": f"{type(exc).__name__}: {exc}"}


def holds_secrets(repo: Repo, rules: secrets.Patterns, rel: str) -> bool:
    """Whether `rel` is a YAML, TOML or JSON config that sets a secret-looking key to a
    value (`password: hunter2`; not `password: ${oc.env:DB_PASS}`, an interpolation) or
    holds a URL with a password (`db_url: postgres://app:S3cret@db/x`)."""
    return bool(secret_values(repo, rules, rel))


def secret_values(repo: Repo, rules: secrets.Patterns, rel: str) -> list[str]:
    """The secret values such a config holds (see holds_secrets): what a command that
    reads it may echo to its logs."""
    from mlvc import params  # with its parsers: only once a config is at hand

    if os.path.splitext(rel)[1].lower() not in params.CONFIG_SUFFIXES:
        return []
    data = read_head(repo, rel, params.MAX_CONFIG_BYTES)
    if data is None or not (rules.may_hold_secret_names(data) or b"://" in data):
        return []
    found: list[str] = []
    for key, value in (params.config_params(rel, data) or {}).items():
        if rules.is_secret_name(key) and _set(value):
            found.append(str(value))
        elif isinstance(value, str) and "://" in value:
            found += urls.redact_urls(value)[1]
    return found


def _set(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value) and not value.startswith("${") and value != secrets.REDACTED
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_head(repo: Repo, rel: str, limit: int = 4 << 20) -> bytes | None:
    """Up to `limit` + 1 bytes of a workspace file (one more says it is longer); None
    when it cannot be read."""
    try:
        with open(repo.abspath(rel), "rb") as handle:
            return handle.read(limit + 1)
    except OSError:
        return None
