"""The MlvcError hierarchy: every expected failure the library raises."""

from __future__ import annotations


class MlvcError(Exception):
    """An expected failure: the CLI prints `error: <message>` (and the hint) and exits 1."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class NotARepositoryError(MlvcError):
    pass


class RepositoryExistsError(MlvcError):
    pass


class ObjectNotFoundError(MlvcError):
    pass


class AmbiguousIdError(MlvcError):
    def __init__(self, prefix: str, candidates: list[str]) -> None:
        listed = "\n".join(f"  {c}" for c in candidates)
        super().__init__(
            f"short id {prefix} is ambiguous; candidates:\n{listed}",
            hint="give more hex digits of the id",
        )
        self.candidates = candidates


class InvalidIdError(MlvcError):
    pass


class CorruptObjectError(MlvcError):
    pass


class CorruptPackError(MlvcError):
    pass


class NewerFormatError(MlvcError):
    """Written by a later mlvc in a form this one does not read (a pack version): not
    damage, so never quarantined or skipped; the user is told to upgrade."""


class UnsafePathError(MlvcError):
    pass


class UndecodableTextError(MlvcError):
    pass


class PathNotFoundError(MlvcError):
    pass


class UnreadableFileError(MlvcError):
    pass


class FileVanishedError(UnreadableFileError):
    """The file was removed after it was listed (by another process)."""


class DiskFullError(MlvcError):
    pass


class ConfigError(MlvcError):
    pass


class ChunkingChangedError(ConfigError):
    """config.toml's chunking parameters differ from those the store was written with."""


class RemoteError(MlvcError):
    """A remote could not be reached, read or written (the message names it)."""


class RefConflictError(RemoteError):
    """A ref on a remote moved between the read and the compare-and-swap."""
