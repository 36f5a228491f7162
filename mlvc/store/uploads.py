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

A lock does not travel with a copy of the file, so each file also names the directory
it was written in (its device and inode): in a copy of the clone (`cp -r` during a push)
it names another directory, and its upload, maybe still in flight from the original, is
not this clone's to abort. Nor is one outside the remote's own bucket and prefix.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

Upload = dict[str, str]  # Bucket, Key, UploadId
_SUFFIX = ".upload"
_FIELDS = ("Bucket", "Key", "UploadId")
# Only files of these names are ever removed: the directory may be a symlink to a place
# holding files of others.
_OURS = re.compile(r"[0-9a-f]{32}(\.upload|\.[0-9]+\.tmp)")


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
        fd = _created_locked(temporary)
        try:
            entry = {k: upload[k] for k in _FIELDS} | {"Ledger": self._identity()}
            os.write(fd, json.dumps(entry).encode())
            os.replace(temporary, final)
            try:
                yield
            finally:
                final.unlink(missing_ok=True)  # under the lock: no reader sees it free
        finally:
            os.close(fd)
            temporary.unlink(missing_ok=True)

    def abandoned(self, bucket: str, prefix: str) -> Iterator[tuple[Upload, Path]]:
        """Each upload to `bucket` below `prefix` whose process is gone, with its file,
        locked by this process until the next one is asked for: the caller aborts the
        upload meanwhile, then `forget`s the file (else it is tried again next time).
        Files held by a live process are skipped; unreadable ones (a crash while writing
        one), and those of a copy or of another place, are removed unaborted."""
        if not self.directory.is_dir():
            return
        identity = self._identity()
        for path in sorted(self.directory.iterdir()):
            if not _OURS.fullmatch(path.name):
                continue
            with _unheld(path) as text:
                if text is None:
                    continue
                upload = _parse(text) if path.suffix == _SUFFIX else None
                if upload is not None and _ours(upload, identity, bucket, prefix):
                    yield upload, path
                    continue
                path.unlink(missing_ok=True)  # under our lock: its holder is gone

    @staticmethod
    def forget(path: Path) -> None:
        path.unlink(missing_ok=True)

    def _identity(self) -> str:
        st = os.stat(self.directory)
        return f"{st.st_dev}:{st.st_ino}"


def _created_locked(path: Path) -> int:
    """`path` created (or emptied), open and locked by this process. A reader may remove
    a file it finds free in the instant before the lock is taken; then it is made again."""
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink:
            os.ftruncate(fd, 0)
            return fd
        os.close(fd)


@contextlib.contextmanager
def _unheld(path: Path) -> Iterator[bytes | None]:
    """The file's bytes, its lock held by this process for the block (None if another
    process holds it, or the file is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield os.read(fd, 1 << 16) if os.fstat(fd).st_nlink else None
    finally:
        os.close(fd)


def _parse(text: bytes) -> Upload | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    fields = (*_FIELDS, "Ledger")
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in fields):
        return None
    if not value["UploadId"]:
        return None  # never sent: a request naming no upload may mean the object itself
    return {k: value[k] for k in fields}


def _ours(upload: Upload, identity: str, bucket: str, prefix: str) -> bool:
    """Whether this ledger (`identity`, not a copy) wrote the upload down, and it is to a
    key of the remote (below `prefix` in `bucket`): any other is not ours to abort."""
    if upload.pop("Ledger") != identity:
        return False
    start = f"{prefix}/" if prefix else ""
    if upload["Bucket"] != bucket or not upload["Key"].startswith(start):
        return False
    return all(part not in ("", ".", "..") for part in upload["Key"][len(start) :].split("/"))
