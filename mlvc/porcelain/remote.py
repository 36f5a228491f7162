"""`mlvc remote add / list / remove`: the remotes named in `.mlvc/config.toml`.

A remote is a name, an fsspec URL and storage options. Credentials are never part of
it: a URL with a user or password, or an option named like a credential, is refused,
because the config is a file people copy, paste and back up.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlvc import config as config_mod
from mlvc.config import RemoteConfig, Scalar
from mlvc.errors import MlvcError
from mlvc.repo import Repo
from mlvc.secrets import DEFAULT as SECRET_PATTERNS
from mlvc.store.connect import open_transport
from mlvc.store.fsutil import atomic_write, locked
from mlvc.store.remote import Remote
from mlvc.store.transport import check_url

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_OPTION = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")
# fsspec option names that hold credentials without looking like it to the secret
# patterns (s3fs `key`, adlfs `account_key`, `connection_string`).
_CREDENTIAL_OPTIONS = frozenset(
    {"key", "access_key", "access_key_id", "aws_access_key_id", "account_key", "connection_string"}
)


class RemoteConfigError(MlvcError):
    pass


@dataclass(frozen=True)
class RemoteInfo:
    name: str
    url: str
    default: bool
    options: dict[str, Scalar]


@dataclass(frozen=True)
class RemoteListResult:
    remotes: tuple[RemoteInfo, ...]


@dataclass(frozen=True)
class RemoteAddResult:
    remote: RemoteInfo


@dataclass(frozen=True)
class RemoteRemoveResult:
    name: str
    url: str


def _info(remote: RemoteConfig) -> RemoteInfo:
    return RemoteInfo(remote.name, remote.url, remote.default, dict(remote.options))


def parse_options(pairs: list[str]) -> tuple[tuple[str, Scalar], ...]:
    """`key=value` words: `true`/`false` become booleans, digits integers (fsspec takes
    `anon=true` as a bool: the string "false" would be true), anything else a string."""
    found: dict[str, Scalar] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not _OPTION.fullmatch(key):
            raise RemoteConfigError(
                f"'{pair}' is not an option", hint="write -o key=value, e.g. -o endpoint_url=URL"
            )
        last = key.rsplit(".", 1)[-1]
        if last.lower() in _CREDENTIAL_OPTIONS or SECRET_PATTERNS.is_secret_name(key):
            raise RemoteConfigError(
                f"refusing to store option {key}: it looks like a credential",
                hint="credentials come from the environment (AWS_ACCESS_KEY_ID, ...), "
                "an AWS profile (-o profile=NAME) or an instance role",
            )
        value: Scalar = text
        if text in ("true", "false"):
            value = text == "true"
        elif text.isdigit():
            value = int(text)
        found[key] = value
    options = tuple(found.items())
    RemoteConfig("", "", options=options).storage_options()  # conflicting keys raise
    return options


def _url(url: str, cwd: Path) -> str:
    check_url(url)
    if "://" not in url:
        return str((cwd / Path(url).expanduser()).resolve())
    import fsspec  # only `remote add` pays for it

    protocol = url.split("://", 1)[0]
    if protocol not in fsspec.available_protocols():
        raise RemoteConfigError(
            f"unknown remote URL scheme {protocol}://",
            hint="use a directory, s3://BUCKET/PREFIX, gs://, az:// or another fsspec URL",
        )
    return url


Remotes = tuple[RemoteConfig, ...]


def _edit(repo: Repo, change: Callable[[Remotes], Remotes]) -> None:
    """Apply `change` to the remotes as the config holds them now, and write the result,
    under the config's lock: two `remote add` at once each keep the other's remote.
    `change` raises to leave the config as it is."""
    path = repo.dir / "config.toml"
    with locked(repo.dir / config_mod.LOCK):
        current = config_mod.load(path)
        remotes = change(current.remotes)
        atomic_write(path, current._replace(remotes=remotes).render().encode())


def remote_add(
    repo: Repo, name: str, url: str, options: list[str], default: bool, cwd: Path
) -> RemoteAddResult:
    """Name a remote. `--default` makes it the one push and fetch use without `-r`."""
    if not _NAME.fullmatch(name):
        raise RemoteConfigError(
            f"'{name}' is not a valid remote name", hint="use letters, digits, '_' and '-'"
        )
    added = RemoteConfig(name, _url(url, cwd), default, parse_options(options))

    def add(remotes: Remotes) -> Remotes:
        if any(r.name == name for r in remotes):
            raise RemoteConfigError(
                f"remote {name} already exists",
                hint=f"remove it first (mlvc remote remove {name}) or pick another name",
            )
        if default:
            remotes = tuple(r._replace(default=False) for r in remotes)
        return (*remotes, added)

    _edit(repo, add)
    return RemoteAddResult(_info(added))


def remote_list(repo: Repo) -> RemoteListResult:
    return RemoteListResult(tuple(_info(r) for r in repo.config.remotes))


def remote_remove(repo: Repo, name: str) -> RemoteRemoveResult:
    """Forget a remote and the local cache of its index files; the remote is untouched."""
    removed: list[RemoteConfig] = []

    def remove(remotes: Remotes) -> Remotes:
        removed.extend(r for r in remotes if r.name == name)
        if not removed:
            raise RemoteConfigError(f"no remote named {name}", hint="mlvc remote list shows them")
        return tuple(r for r in remotes if r.name != name)

    _edit(repo, remove)
    shutil.rmtree(repo.dir / "remotes" / name, ignore_errors=True)
    return RemoteRemoveResult(name, removed[0].url)


def open_remote(repo: Repo, remote: RemoteConfig) -> Remote:
    """The remote's layout over its transport, its verified files cached in
    `.mlvc/remotes/NAME/`. Imports fsspec (and s3fs for s3://): only remote commands pay."""
    transport = open_transport(remote.url, remote.storage_options())
    return Remote(remote.name, transport, repo.dir / "remotes" / remote.name)


def find_remote(repo: Repo, name: str | None) -> RemoteConfig:
    """The remote called `name`, else the default one, else the only one."""
    remotes = repo.config.remotes
    if name is not None:
        for remote in remotes:
            if remote.name == name:
                return remote
        raise RemoteConfigError(f"no remote named {name}", hint="mlvc remote list shows them")
    chosen = [r for r in remotes if r.default] or (list(remotes) if len(remotes) == 1 else [])
    if not chosen:
        raise RemoteConfigError(
            "no default remote" if remotes else "no remote configured",
            hint="name one with -r NAME, or mlvc remote add NAME URL --default",
        )
    return chosen[0]
