"""S3 transfers of mlvc's own, through s3fs's client, that keep `jobs` requests in flight
in one sliding window shared by every upload, download and ranged read.

s3fs sends a file's parts in batches and waits for each whole batch before the next
(17-25 s for 2 GiB here, against ~10 s with a window of 8-16 parts), and reads whole
files the same way. Requests go through s3fs (`_call_s3`: its client, retries and
translation of S3 errors into OSErrors), on its event loop, except the bulk of the bytes:
whole-pack reads and the parts of multipart uploads go on threads (`s3threads`) where
they can, and through s3fs if that fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mlvc.store import s3threads
    from mlvc.store.uploads import UploadLedger

T = TypeVar("T")
Key = dict[str, str]  # Bucket and Key of one object


class S3Transfers:
    """The transfers of one S3 transport (`store/transport.py`, S3Transport): s3fs's
    filesystem `fs`, a request counter, and the flag that stops them. An upload larger
    than a part is a multipart upload, invisible to readers until complete and aborted
    on failure; a read larger than a piece is fetched in pieces, in parallel."""

    PART = 64 << 20  # S3 parts must be >= 5 MiB (all but the last); 64 MiB: few requests
    PIECE = 16 << 20  # a large read's pieces (the transport sets S3Transport.PIECE)

    def __init__(self, fs: Any, count: Callable[[int], None], stopping: threading.Event) -> None:
        self.fs = fs
        self.count = count
        self.stopping = stopping
        self.jobs = 8  # requests in flight; the transport sets it before the first transfer
        self.part_size = self.PART
        self.piece_size = self.PIECE
        self._window: asyncio.Semaphore | None = None
        self.threads = True  # whole-pack reads and parts sent on threads (`s3threads`)
        self._reads: s3threads.DirectReads | None = None
        self._uploads: s3threads.PartUploads | None = None
        self.ledger: UploadLedger | None = None  # where uploads in flight are written down

    def upload(self, key: Key, local: Path) -> None:
        self._run(self._upload, key, local)

    def read_ranges(self, key: Key, ranges: list[tuple[int, int]]) -> list[bytes]:
        return self._run(self._ranges, key, ranges)

    def read_into(self, key: Key, buffer: memoryview) -> None:
        """The object's first len(buffer) bytes into `buffer`, in pieces in parallel, each
        read straight from the response into its place (no joined copy)."""
        self._run(self._read_into, key, buffer)

    def download(self, key: Key, fd: int, size: int | None) -> None:
        """The object into the open file `fd`, each piece written where it belongs as it
        arrives."""
        if size is None:
            size = self._run(self._size, key)
        self._run(self._download, key, fd, size)

    # -- on the event loop -------------------------------------------------------------

    def _run(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run a coroutine on s3fs's event loop (its own thread) and wait for it; several
        threads may do so at once, and their requests share one window."""
        from fsspec.asyn import sync

        result: T = sync(self.fs.loop, function, *args)
        return result

    def _slots(self) -> asyncio.Semaphore:
        """The window: one slot per request in flight (made on the loop, at first use)."""
        if self._window is None:
            self._window = asyncio.Semaphore(max(1, self.jobs))
        return self._window

    async def _call(self, method: str, **kwargs: Any) -> Any:
        self.count(1)
        return await self.fs._call_s3(method, **kwargs)

    async def _upload(self, key: Key, local: Path) -> None:
        size = local.stat().st_size
        with open(local, "rb") as file:
            fd = file.fileno()
            if size <= self.part_size:
                async with self._slots():
                    body = await _pread(fd, 0, size)
                    await self._call("put_object", **key, Body=body)
                return
            created = await self._call("create_multipart_upload", **key)
            upload = {**key, "UploadId": created["UploadId"]}
            # Written down first: if this process is killed, the next push aborts it.
            held = self.ledger.holding(upload) if self.ledger else contextlib.nullcontext()
            with held:
                await self._send_parts(fd, upload, size)

    async def _send_parts(self, fd: int, upload: Key, size: int) -> None:
        try:
            offsets = range(0, size, self.part_size)
            parts = await _all(
                [self._part(fd, upload, n, at, size) for n, at in enumerate(offsets, 1)]
            )
            done = {"Parts": parts}
            await self._call("complete_multipart_upload", **upload, MultipartUpload=done)
        except BaseException:
            # No parts left behind. An upload never finished is invisible to readers
            # (docs/format.md, Remote layout).
            with contextlib.suppress(Exception):
                await self._call("abort_multipart_upload", **upload)
            raise

    def abort_abandoned(self, bucket: str, prefix: str) -> int:
        """Abort the uploads to `prefix` in `bucket` that a killed process of this clone
        left unfinished (see store/uploads.py): how many. One that fails to abort is
        tried again next time."""
        if self.ledger is None:
            return 0
        aborted = 0
        for upload, path in self.ledger.abandoned(bucket, prefix):
            try:
                self._run(self._abort, upload)
                aborted += 1
            except FileNotFoundError:
                pass  # no such upload: it was completed or aborted after all
            except OSError:
                continue  # refused (no right to abort, a bad id): the push goes on
            self.ledger.forget(path)
        return aborted

    async def _abort(self, upload: Key) -> None:
        await self._call("abort_multipart_upload", **upload)

    async def _part(self, fd: int, upload: Key, number: int, at: int, size: int) -> dict[str, Any]:
        async with self._slots():
            self._check_stopping()
            body = await self._read_part(fd, at, min(self.part_size, size - at))
            sent = await self._send_part(upload, number, body)
        return {"PartNumber": number, "ETag": sent["ETag"]}

    async def _send_part(self, upload: Key, number: int, body: bytes) -> dict[str, Any]:
        """One part, on a thread where `s3threads` applies, else (or if that failed)
        through s3fs."""
        uploads = await self._part_uploads()
        if uploads is not None:
            self.count(1)
            try:
                return await _on_thread(uploads.submit(body, **upload, PartNumber=number))
            except Exception:
                self.threads = False
        sent: dict[str, Any] = await self._call(
            "upload_part", **upload, PartNumber=number, Body=body
        )
        return sent

    async def _part_uploads(self) -> s3threads.PartUploads | None:
        if self._uploads is None and self.threads:
            from mlvc.store import s3threads

            client = await self.fs.set_session()
            if s3threads.usable(self.fs, str(client.meta.endpoint_url)):
                loop = asyncio.get_running_loop()
                made = await loop.run_in_executor(
                    None, s3threads.PartUploads.make, self.fs, self.jobs
                )
                self._uploads = made
            self.threads = self._uploads is not None
        return self._uploads if self.threads else None

    async def _read_part(self, fd: int, at: int, length: int) -> bytes:
        return await _pread(fd, at, length)

    async def _get(self, key: Key, start: int, end: int) -> bytes:
        """Bytes [start, end) of an object: one ranged GET (the caller holds a slot)."""
        got = await self._call("get_object", **key, Range=f"bytes={start}-{end - 1}")
        try:
            return bytes(await got["Body"].read())
        finally:
            got["Body"].close()

    def _check_stopping(self) -> None:
        if self.stopping.is_set():
            raise OSError("transfer stopped")

    async def _piece(self, key: Key, start: int, end: int) -> bytes:
        async with self._slots():
            self._check_stopping()
            return await self._get(key, start, end)

    async def _ranges(self, key: Key, ranges: list[tuple[int, int]]) -> list[bytes]:
        async def whole(start: int, end: int) -> bytes:
            step = self.piece_size
            pieces = [self._piece(key, at, min(at + step, end)) for at in range(start, end, step)]
            return b"".join(await _all(pieces))

        return await _all([whole(start, end) for start, end in ranges])

    async def _read_into(self, key: Key, buffer: memoryview) -> None:
        url = await self._direct_url(key)

        async def piece(at: int) -> None:
            end = min(at + self.piece_size, len(buffer))
            if url is not None and await self._direct_piece(url, buffer[at:end], at):
                return
            async with self._slots():
                self._check_stopping()
                got = await self._call("get_object", **key, Range=f"bytes={at}-{end - 1}")
                body = got["Body"]
                try:
                    while at < end and (n := await body.readinto(buffer[at:end])):
                        at += n
                finally:
                    body.close()
            if at != end:
                raise OSError(f"the object ended {end - at} bytes early")

        await _all([piece(at) for at in range(0, len(buffer), self.piece_size)])

    async def _direct_url(self, key: Key) -> str | None:
        """A presigned URL of `key` for `s3threads`'s direct reads, or None where they don't
        apply (or have failed once: the rest goes the s3fs way)."""
        if not self.threads:
            return None
        from mlvc.store import s3threads

        client = await self.fs.set_session()
        url: str = await client.generate_presigned_url("get_object", Params=key, ExpiresIn=3600)
        if not s3threads.usable(self.fs, url):
            self.threads = False
            return None
        if self._reads is None:
            self._reads = s3threads.DirectReads(self.jobs)
        return url

    async def _direct_piece(self, url: str, view: memoryview, at: int) -> bool:
        """Bytes [at, at + len(view)) read directly into `view`; False if that failed
        (the caller reads them the s3fs way, with its retries and errors)."""
        assert self._reads is not None
        self._check_stopping()
        self.count(1)
        try:
            await _on_thread(self._reads.submit(url, view, at))
        except Exception:
            self.threads = False
            return False
        return True

    async def _download(self, key: Key, fd: int, size: int) -> None:
        loop = asyncio.get_running_loop()

        async def piece(at: int) -> None:
            async with self._slots():  # held while writing: memory stays jobs pieces
                self._check_stopping()
                data = await self._get(key, at, min(at + self.piece_size, size))
                await loop.run_in_executor(None, os.pwrite, fd, data, at)

        await _all([piece(at) for at in range(0, size, self.piece_size)])

    async def _size(self, key: Key) -> int:
        head = await self._call("head_object", **key)
        return int(head["ContentLength"])


async def _pread(fd: int, at: int, length: int) -> bytes:
    """Local bytes, read off the event loop so the other transfers keep moving."""
    data = await asyncio.get_running_loop().run_in_executor(None, os.pread, fd, length, at)
    if len(data) != length:
        raise OSError(f"local file shrank during the upload (read {len(data)} of {length} B)")
    return data


async def _on_thread(done: Future[T]) -> T:
    """The result of work running on another thread. If this task is cancelled, the work
    is waited for first: it may still be writing into a buffer, or sending a part."""
    try:
        return await asyncio.shield(asyncio.wrap_future(done))
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            done.result()
        raise


async def _all(coroutines: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """Run `coroutines` together; at the first failure cancel the rest and wait for them,
    so that none still runs (or uses a file) when the error reaches the caller."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
