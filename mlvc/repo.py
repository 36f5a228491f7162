"""Discover, initialise and open a repository; composes config, index and object store."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from mlvc import config as config_mod
from mlvc.errors import ConfigError, NotARepositoryError, RepositoryExistsError, UnsafePathError

if TYPE_CHECKING:
    import sqlite3

    from mlvc.config import Config
    from mlvc.store.index import Index
    from mlvc.store.objectstore import ObjectStore

DIRNAME = ".mlvc"


def find_root(start: Path) -> Path | None:
    """The nearest directory at or above `start` holding `.mlvc/config.toml`."""
    current = start.resolve()
    for candidate in (current, *current.parents):
        if (candidate / DIRNAME / "config.toml").is_file():
            return candidate
    return None


def find_lost_config(start: Path) -> Path | None:
    """The nearest directory at or above `start` whose `.mlvc` holds a store (an index
    or packs) but no config.toml: a deleted config, which `fsck --repair` writes again."""
    current = start.resolve()
    for candidate in (current, *current.parents):
        directory = candidate / DIRNAME
        if not (directory / "config.toml").exists() and (
            (directory / "index.db").is_file() or (directory / "packs").is_dir()
        ):
            return candidate
    return None


def restore_config(start: Path) -> str | None:
    """Write a lost or unreadable config.toml again, with the chunking parameters the
    index recorded (the defaults if it recorded none); an unreadable one is moved to
    quarantine/ first. Remotes and [secrets]/[params] rules go with the old file. None
    when the config is sound."""
    root = find_root(start)
    if root is not None:
        try:
            config_mod.load(root / DIRNAME / "config.toml")
            return None
        except ConfigError:
            quarantine = root / DIRNAME / "quarantine"
            quarantine.mkdir(exist_ok=True)
            os.replace(root / DIRNAME / "config.toml", quarantine / f"config.toml-{os.getpid()}")
    elif (root := find_lost_config(start)) is None:
        return None
    from mlvc.store.db import CHUNKING_KEYS, recorded_chunking
    from mlvc.store.fsutil import atomic_write

    kept = recorded_chunking(root / DIRNAME / "index.db")
    chunking = config_mod.ChunkParams(**{k: kept[k] for k in CHUNKING_KEYS if k in kept})
    config = config_mod.Config(config_mod.FORMAT, chunking)
    atomic_write(root / DIRNAME / "config.toml", config.render().encode())
    how = "chunking as the index recorded it" if kept else "default chunking: none recorded"
    return f"wrote {DIRNAME}/config.toml again ({how}); add your remotes again (mlvc remote add)"


class Repo:
    def __init__(
        self,
        root: Path,
        config: Config | None = None,
        store: Path | None = None,
        index_name: str = "index.db",
    ) -> None:
        """`store`: the .mlvc directory, when it is not `root/.mlvc` (a reproduction runs
        in a scratch workspace and records into the original store). `index_name`: the
        index database in it (a rebuild writes a new one beside the old)."""
        self.root = root
        self.dir = store if store is not None else root / DIRNAME
        self.index_path = self.dir / index_name
        if config is not None:
            self.__dict__["config"] = config

    @cached_property
    def config(self) -> Config:
        """Read on first use: read-only commands never need the chunking parameters."""
        return config_mod.load(self.dir / "config.toml")

    @classmethod
    def discover(cls, start: Path) -> Repo:
        root = find_root(start)
        if root is None and (lost := find_lost_config(start)) is not None:
            raise ConfigError(
                f"the store in {lost / DIRNAME} has lost its config.toml",
                hint="mlvc fsck --repair writes it again from what the index recorded;"
                " then add your remotes again (mlvc remote add)",
            )
        if root is None:
            raise NotARepositoryError(
                f"not an mlvc repository (or any parent up to /): {start}",
                hint="run 'mlvc init' in your project's root",
            )
        # Loaded (and so validated) eagerly: a damaged config must stop every command.
        return cls(root, config_mod.load(root / DIRNAME / "config.toml"))

    @classmethod
    def init(cls, path: Path) -> Repo:
        path = path.resolve()
        existing = find_root(path)
        if existing is not None:
            where = "here" if existing == path else f"at {existing}"
            raise RepositoryExistsError(
                f"an mlvc repository already exists {where}",
                hint="repositories do not nest; use the existing one",
            )
        path.mkdir(parents=True, exist_ok=True)
        directory = path / DIRNAME
        try:
            # Owner-only: the store holds copies of the workspace's files, and a file of
            # mode 0600 must not become readable by other users through it.
            directory.mkdir(mode=0o700)
        except FileExistsError:
            raise RepositoryExistsError(
                f"{directory} exists but holds no config.toml (an interrupted init?)",
                hint=f"remove {directory} if it holds nothing you need, then run mlvc init",
            ) from None
        os.chmod(directory, 0o700)  # whatever the umask
        for sub in ("packs", "refs/tags", "tmp"):
            (directory / sub).mkdir(parents=True)
        # The store is not source: keep git from listing it (and runs from patching it).
        (directory / ".gitignore").write_text("*\n")
        from mlvc.store.db import connect
        from mlvc.store.fsutil import atomic_write, fsync_dir

        config = config_mod.default()
        connect(directory / "index.db", create=True, chunking=config.chunking._asdict()).close()
        # The commit point of runs (store/runlog.py); present and empty: no run yet.
        os.close(os.open(directory / "runs.log", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        repo = cls(path, config)
        atomic_write(directory / "config.toml", config.render().encode())
        fsync_dir(path)
        return repo

    @cached_property
    def db(self) -> sqlite3.Connection:
        """The index database's connection, without the Index around it: a clean
        `status` needs no more (and skips importing the rest). Opening it checks the
        config's chunking parameters against the store's."""
        from mlvc.store.db import connect

        return connect(self.index_path, chunking=self.config.chunking._asdict())

    @cached_property
    def index(self) -> Index:
        from mlvc.store.index import Index

        # An index being rebuilt (another file name) must not append to the run log.
        run_log = self.dir / "runs.log" if self.index_path.name == "index.db" else None
        return Index(self.index_path, self.db, run_log)

    @cached_property
    def store(self) -> ObjectStore:
        from mlvc.store.objectstore import ObjectStore

        return ObjectStore(self.dir / "packs", self.index, self.config.chunking)

    def relpath(self, path: Path, cwd: Path) -> str:
        """A user path (relative to `cwd`) as a workspace-relative POSIX path."""
        absolute = Path(os.path.normpath(cwd / path))
        try:
            rel = absolute.relative_to(self.root)
        except ValueError:
            raise UnsafePathError(f"{path} is outside the repository at {self.root}") from None
        text = rel.as_posix()
        return "" if text == "." else text

    def abspath(self, rel: str) -> Path:
        return self.root / rel if rel else self.root

    def close(self) -> None:
        """Closes what was opened; a later use opens it again."""
        if "store" in self.__dict__:
            self.store.close()
        if "index" in self.__dict__:
            self.index.close()  # closes the connection too
        elif "db" in self.__dict__:
            self.db.close()
        for opened in ("store", "index", "db"):
            self.__dict__.pop(opened, None)
