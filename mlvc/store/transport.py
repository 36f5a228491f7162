"""The byte transport of a remote: named files at any fsspec URL, and refs swapped safely.

A few primitives (list, read, ranged read, write, upload, download, read and swap a
ref) from which `store/remote.py` derives the rest, as fsspec derives its filesystems'.
Three kinds: any fsspec filesystem, with compare-and-swap by S3 conditional writes; S3
itself, whose transfers (`store/s3.py`) keep `jobs` requests in flight; and a local
directory, which writes through a temporary name and a rename and swaps refs under an
`O_EXCL` lock. fsspec and s3fs are imported only when a transport is opened.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import blake3

from mlvc.errors import RefConflictError, RemoteError
from mlvc.store.fsutil import atomic_write, read_small_file, temp_name
from mlvc.urls import redact_url

# Transfers (parts, ranges, packs) in flight at once: enough to keep a loopback or LAN
# store busy from 2 cores (16 gained nothing over 8 here), few enough that the parts in
# memory (jobs x 64 MiB) stay small.
DEFAULT_JOBS = 8

# S3 answers a failed condition with 412 PreconditionFailed, or 409 when a concurrent
# conditional write is in progress; both mean "another writer moved it first".
_LOST_RACE = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


def check_url(url: str) -> str:
    """Refuse a URL carrying credentials: they would end up in config files and logs."""
    if redact_url(url)[1] is not None:
        raise RemoteError(
            "refusing a remote URL with embedded credentials",
            hint="drop the user:password@ part; credentials come from the environment "
            "or the store's usual configuration (an AWS profile, an instance role)",
        )
    return url


class Transport:
    """Files under `url`, through fsspec. Paths are relative, `/`-separated."""

    # s3fs uploads files over this size in parts of this size: one request per part
    # plus two (create and complete), which `requests` counts.
    PART = 50 << 20

    def __init__(self, url: str, fs: Any, root: str) -> None:
        self.url = url
        self._fs = fs
        self.root = root.rstrip("/")
        self.requests = 0  # requests made (or, for a directory, file operations)
        self.jobs = DEFAULT_JOBS  # transfers in flight, where the transport overlaps them
        self._counting = threading.Lock()  # pushes upload packs from several threads
        # Set when the caller gives up (an error elsewhere, Ctrl-C): transfers under way
        # send no further part and abort, rather than finish gigabytes nobody waits for.
        self.stopping = threading.Event()
        # The client library's own failures (botocore's connection and credential
        # errors are not OSErrors), reported as RemoteError rather than as a bug.
        self.backend_errors: tuple[type[BaseException], ...] = ()

    @property
    def fs(self) -> Any:
        """The fsspec filesystem."""
        return self._fs

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def keep_uploads_in(self, directory: Path) -> None:
        """Where this transport writes down its multipart uploads in flight (S3 only)."""

    def abort_abandoned(self) -> int:
        """Abort what uploads a killed process left unfinished: how many (S3 only)."""
        return 0

    def count(self, requests: int) -> None:
        with self._counting:
            self.requests += requests

    @contextlib.contextmanager
    def errors(self, name: str, requests: int = 1) -> Iterator[None]:
        """Store failures become RemoteError naming the remote and the file; `requests`
        is what the use costs, if the caller does not count them itself."""
        self.count(requests)
        try:
            yield
        except RemoteError:
            raise
        except PermissionError as exc:
            raise RemoteError(
                f"access to {name} on remote {self.url} denied: {exc}",
                hint="check the credentials in the environment or the store's profile",
            ) from None
        except OSError as exc:
            raise RemoteError(f"remote {self.url}: {name}: {exc}", hint="try again") from None
        except TypeError as exc:  # fsspec passes unknown options on, to fail at first use
            raise RemoteError(
                f"remote {self.url} does not take its options: {exc}",
                hint="mlvc remote list shows them; fix with remote remove and remote add",
            ) from None
        except self.backend_errors as exc:
            raise RemoteError(
                f"remote {self.url}: {name}: {exc}",
                hint="check the URL, the endpoint_url option and the credentials "
                "in the environment, then try again",
            ) from None

    def listdir(self, directory: str) -> dict[str, int]:
        """File name → size, for the files directly in `directory` (none if it is absent)."""
        with self.errors(directory):
            try:
                found = self.fs.ls(self.path(directory), detail=True)
            except FileNotFoundError:
                return {}
        return {
            str(item["name"]).rsplit("/", 1)[-1]: int(item.get("size") or 0)
            for item in found
            if item.get("type") != "directory"
        }

    def read(self, name: str) -> bytes | None:
        """A whole file, or None if there is none."""
        with self.errors(name):
            try:
                return bytes(self.fs.cat_file(self.path(name)))
            except FileNotFoundError:
                return None

    def read_ranges(self, name: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        """Byte ranges [start, end) of one file, fetched concurrently where fsspec can."""
        if not ranges:
            return []
        path = self.path(name)
        with self.errors(name, len(ranges)):
            got = self.fs.cat_ranges(
                [path] * len(ranges), [r[0] for r in ranges], [r[1] for r in ranges]
            )
        return self.checked(name, ranges, got)

    def checked(self, name: str, ranges: list[tuple[int, int]], got: list[Any]) -> list[bytes]:
        """The ranges read, each the length asked for (a short one: a truncated file)."""
        for (start, end), data in zip(ranges, got, strict=True):
            if isinstance(data, BaseException):
                raise RemoteError(f"remote {self.url}: {name}: {data}", hint="try again")
            if len(data) != end - start:
                raise RemoteError(f"remote {self.url}: {name} is shorter than its index says")
        return [bytes(d) for d in got]

    def read_into(self, name: str, buffer: memoryview) -> None:
        """The first len(buffer) bytes of a file into `buffer` (a whole pack, read into
        memory that can then be written to disk without another copy)."""
        buffer[:] = self.read_ranges(name, [(0, len(buffer))])[0]

    def download(self, name: str, local: Path, size: int | None = None) -> None:
        """A whole file into `local`, which appears only once complete (a temporary name,
        then a rename; not fsynced: what is downloaded is verified before use anyway).
        `size`, when known (from an index file), spares a request on some stores."""
        with self.errors(name), replacing(local) as tmp:
            self.fs.get_file(self.path(name), str(tmp))

    def delete(self, name: str) -> None:
        """Remove a file; one already gone is fine (`mlvc purge` on a remote)."""
        with self.errors(name), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(name))

    def write(self, name: str, data: bytes) -> None:
        """Write a whole file (immutable files: a rewrite writes the same bytes)."""
        with self.errors(name):
            self.fs.pipe_file(self.path(name), data)

    def upload(self, name: str, local: Path) -> None:
        """Upload a local file; on S3 a multipart upload, visible only when complete."""
        size = local.stat().st_size
        with self.errors(name, 1 if size <= 2 * self.PART else -(-size // self.PART) + 2):
            self.fs.put_file(str(local), self.path(name))

    def read_ref(self, name: str) -> tuple[bytes, str] | None:
        """A ref's bytes and a version token for `swap_ref`, or None if it is absent.

        The token (the ETag) is read before the bytes: if the ref moves in between, the
        token is the older one and the swap fails, which is safe; the other order could
        pair new bytes with a newer token and overwrite a move nobody saw."""
        with self.errors(name, 2):
            try:
                tag = str(self.fs.info(self.path(name))["ETag"])
                data = bytes(self.fs.cat_file(self.path(name)))
            except FileNotFoundError:
                return None
        return data, tag

    def swap_ref(self, name: str, data: bytes, expected: str | None) -> None:
        """Write a ref only if it still has version `expected` (None: only if absent)."""
        if "s3" not in _protocols(self.fs):
            raise RemoteError(
                f"remote {self.url} cannot hold refs: mlvc knows conditional writes only "
                "for S3-compatible stores and local directories",
                hint="use an s3:// URL or a directory for this remote",
            )
        condition = {"mode": "create"} if expected is None else {"IfMatch": expected}
        try:
            with self.errors(name):
                self.fs.pipe_file(self.path(name), data, **condition)
        except RemoteError as exc:
            if _lost_race(exc.__context__):
                raise RefConflictError(f"{name} on remote {self.url} moved meanwhile") from None
            raise


class DirectoryTransport(Transport):
    """A local or mounted directory, through `os` alone (fsspec's import is ~30 ms of a
    `push` or `fetch`). Every file appears whole (temporary name, rename), and a ref moves
    under `NAME.lock`, created with O_EXCL, as local tags do."""

    def __init__(self, url: str, root: str) -> None:
        super().__init__(url, None, root)
        self.base = Path(root)

    @property
    def fs(self) -> Any:
        """fsspec's view of the same directory, for a caller that wants one."""
        import fsspec

        return fsspec.filesystem("file")

    def listdir(self, directory: str) -> dict[str, int]:
        found: dict[str, int] = {}
        path = self.base / directory
        with self.errors(directory):
            try:
                with os.scandir(path) as entries:
                    for entry in entries:
                        with contextlib.suppress(FileNotFoundError):  # gone meanwhile
                            if not entry.is_dir(follow_symlinks=False):
                                found[entry.name] = entry.stat().st_size
            except FileNotFoundError:
                return {}
            except NotADirectoryError:  # a file where the directory would be: itself
                return {path.name: path.stat().st_size}
        return found

    def read(self, name: str) -> bytes | None:
        with self.errors(name):
            try:
                return read_small_file(str(self.base / name))
            except FileNotFoundError:
                return None

    def read_ranges(self, name: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        if not ranges:
            return []
        with self.errors(name, len(ranges)):
            fd = os.open(self.base / name, os.O_RDONLY | os.O_CLOEXEC)
            try:
                got = [_pread_all(fd, end - start, start) for start, end in ranges]
            finally:
                os.close(fd)
        return self.checked(name, ranges, got)

    def delete(self, name: str) -> None:
        with self.errors(name), contextlib.suppress(FileNotFoundError):
            os.unlink(self.base / name)

    def write(self, name: str, data: bytes) -> None:
        target = self.base / name
        with self.errors(name):
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, data)

    def upload(self, name: str, local: Path) -> None:
        target = self.base / name
        with self.errors(name):
            target.parent.mkdir(parents=True, exist_ok=True)
            with replacing(target) as tmp:
                shutil.copyfile(local, tmp)

    def read_into(self, name: str, buffer: memoryview) -> None:
        with self.errors(name), open(self.base / name, "rb", buffering=0) as file:
            at = 0
            while at < len(buffer) and (n := file.readinto(buffer[at:])):
                at += n
        if at != len(buffer):
            raise RemoteError(f"remote {self.url}: {name} is shorter than its index says")

    def download(self, name: str, local: Path, size: int | None = None) -> None:
        with self.errors(name), replacing(local) as tmp:
            shutil.copyfile(self.base / name, tmp)

    def read_ref(self, name: str) -> tuple[bytes, str] | None:
        data = self.read(name)
        return None if data is None else (data, blake3.blake3(data).hexdigest())

    def swap_ref(self, name: str, data: bytes, expected: str | None) -> None:
        target = self.base / name
        lock = target.with_name(target.name + ".lock")
        with self.errors(name):
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.close(os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            except FileExistsError:
                raise RefConflictError(
                    f"{name} on remote {self.url} is being moved by another client",
                    hint=f"try again; if no mlvc command is running, remove {lock}",
                ) from None
            try:
                current = self.read_ref(name)
                if (current[1] if current else None) != expected:
                    raise RefConflictError(f"{name} on remote {self.url} moved meanwhile")
                atomic_write(target, data)
            finally:
                lock.unlink(missing_ok=True)


def open_filesystem(url: str, options: Mapping[str, Any]) -> tuple[Any, str]:
    """The fsspec filesystem of `url` and the root path in it; RemoteError when its
    package is missing or it refuses the options."""
    import fsspec.core

    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
    except (ImportError, ValueError, TypeError) as exc:
        raise unopenable(url, exc) from None
    return fs, str(root)


def unopenable(url: str, why: object) -> RemoteError:
    """The error of a remote whose client package is missing or refuses the options."""
    return RemoteError(
        f"cannot open remote {url}: {why}",
        hint="install the filesystem's package (s3fs for s3://) or fix the options",
    )


@contextlib.contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary name beside `target`, renamed over it if the block succeeds."""
    tmp = temp_name(target.parent)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _pread_all(fd: int, size: int, offset: int) -> bytes:
    """`size` bytes at `offset`, fewer only at the end of the file."""
    parts = []
    while size > 0 and (piece := os.pread(fd, min(size, 1 << 30), offset)):
        parts.append(piece)
        size -= len(piece)
        offset += len(piece)
    return b"".join(parts)


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _lost_race(exc: BaseException | None) -> bool:
    """Whether an exception (or its cause) is S3's answer to a failed condition."""
    while exc is not None:
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            error = response.get("Error", {})
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return bool({str(error.get("Code")), str(status)} & _LOST_RACE)
        exc = exc.__cause__ or exc.__context__
    return False
