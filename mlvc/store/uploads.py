"""`.mlvc/remotes/NAME/uploads/`: the multipart uploads this clone has in flight to a
remote, so that one a killed push left unfinished is aborted by the next push.

An unfinished multipart upload is invisible to readers, but the store keeps (and a cloud
bills) its parts until someone aborts it or a lifecycle rule expires it. A process cannot
abort when it is killed, so each upload is written down before its first part is sent:
one small file per upload naming its bucket, key and upload id, locked (`flock`) by the
process sending it and removed once the upload is complete or aborted. A file nobody holds
the lock of names an upload whose process is gone: `abandoned` gives it to the caller to
abort. The lock is the kernel's, released when the process dies, so a live push of
another command in this clone is never touched, and a reused pid fools nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

Upload = dict[str, str]  # Bucket, Key, UploadId
_SUFFIX = ".upload"
_FIELDS = ("Bucket", "Key", "UploadId")


class UploadLedger:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextlib.contextmanager
    def holding(self, upload: Upload) -> Iterator[None]:
        """`upload` written down, locked by this process, for as long as the block runs.
        The file appears under its final name already locked (written and locked under a
        temporary name, then renamed), so no reader ever takes it for abandoned."""
        self.directory.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(upload["UploadId"].encode()).hexdigest()[:32]
        final = self.directory / f"{digest}{_SUFFIX}"
        temporary = self.directory / f"{digest}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, json.dumps({k: upload[k] for k in _FIELDS}).encode())
            os.replace(temporary, final)
            try:
                yield
            finally:
                final.unlink(missing_ok=True)  # under the lock: no reader sees it free
        finally:
            os.close(fd)
            temporary.unlink(missing_ok=True)

    def abandoned(self) -> Iterator[tuple[Upload, Path]]:
        """Each upload whose process is gone, with its file (remove it with `forget` once
        the upload is aborted). Files held by a live process are skipped; unreadable
        ones (a crash while writing one) are removed."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.iterdir()):
            if path.suffix == ".tmp" and _unheld(path) is not None:
                path.unlink(missing_ok=True)  # killed before its rename: no upload named
                continue
            if path.suffix != _SUFFIX:
                continue
            text = _unheld(path)
            if text is None:
                continue
            upload = _parse(text)
            if upload is None:
                path.unlink(missing_ok=True)
                continue
            yield upload, path

    @staticmethod
    def forget(path: Path) -> None:
        path.unlink(missing_ok=True)


def _unheld(path: Path) -> bytes | None:
    """The file's bytes if no process holds its lock (None if one does, or it is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


def _parse(text: bytes) -> Upload | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in _FIELDS):
        return None
    return {k: value[k] for k in _FIELDS}
