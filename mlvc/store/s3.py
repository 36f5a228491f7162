"""S3 transfers of mlvc's own, through s3fs's client, that keep `jobs` requests in flight
in one sliding window shared by every upload, download and ranged read.

s3fs sends a file's parts in batches and waits for each whole batch before the next
(17-25 s for 2 GiB here, against ~10 s with a window of 8-16 parts), and reads whole
files the same way. Requests still go through s3fs (`_call_s3`: its client, retries and
translation of S3 errors into OSErrors), on its event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
Key = dict[str, str]  # Bucket and Key of one object


class S3Transfers:
    """The transfers of one S3 transport (`store/transport.py`, S3Transport): s3fs's
    filesystem `fs`, a request counter, and the flag that stops them. An upload larger
    than a part is a multipart upload, invisible to readers until complete and aborted
    on failure; a read larger than a piece is fetched in pieces, in parallel."""

    PART = 64 << 20  # S3 parts must be >= 5 MiB (all but the last); 64 MiB: few requests
    PIECE = 16 << 20  # a ranged GET of a large read: under glibc's 32 MiB mmap threshold, so
    # its buffers are reused rather than mapped and faulted in afresh (less system time)

    def __init__(self, fs: Any, count: Callable[[int], None], stopping: threading.Event) -> None:
        self.fs = fs
        self.count = count
        self.stopping = stopping
        self.jobs = 8  # requests in flight; the transport sets it before the first transfer
        self.part_size = self.PART
        self.piece_size = self.PIECE
        self._window: asyncio.Semaphore | None = None

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
            try:
                offsets = range(0, size, self.part_size)
                parts = await _all(
                    [self._part(fd, upload, n, at, size) for n, at in enumerate(offsets, 1)]
                )
                done = {"Parts": parts}
                await self._call("complete_multipart_upload", **upload, MultipartUpload=done)
            except BaseException:
                # No parts left behind. A killed process cannot abort: its upload stays
                # unfinished, which readers never see (docs/format.md, Remote layout).
                with contextlib.suppress(Exception):
                    await self._call("abort_multipart_upload", **upload)
                raise

    async def _part(self, fd: int, upload: Key, number: int, at: int, size: int) -> dict[str, Any]:
        async with self._slots():
            self._check_stopping()
            body = await self._read_part(fd, at, min(self.part_size, size - at))
            sent = await self._call("upload_part", **upload, PartNumber=number, Body=body)
        return {"PartNumber": number, "ETag": sent["ETag"]}

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
        async def piece(at: int) -> None:
            end = min(at + self.piece_size, len(buffer))
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
