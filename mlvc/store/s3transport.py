"""The transport of an S3-compatible store: reads by botocore alone (`store/s3reads.py`),
uploads, ranged reads and downloads by mlvc's own transfers (`store/s3.py`), `jobs`
requests in flight in one window, and the rest through s3fs as for any fsspec store.

s3fs is imported at the first request that needs it: a command that only reads (a
checkout whose data is on the remote, `pull`, `fetch`, `clone`) never does, unless a
read fails the botocore way, after which every request of the command goes through s3fs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mlvc.store.transport import Transport, open_filesystem, replacing

if TYPE_CHECKING:
    from mlvc.store.s3 import S3Transfers
    from mlvc.store.s3reads import S3Reads

T = TypeVar("T")


class _Skipped:
    """What a read by botocore alone gives when it was not made, or failed."""


SKIPPED = _Skipped()


class S3Transport(Transport):
    """An S3-compatible store at `s3://BUCKET/PREFIX`, with s3fs's storage `options`:
    reads by botocore first (`S3Reads`), the rest through s3fs, both made at first use."""

    PIECE = 16 << 20  # a ranged GET of a large read: under glibc's 32 MiB mmap threshold, so
    # its buffers are reused rather than mapped and faulted in afresh (less system time)

    def __init__(self, url: str, options: Mapping[str, Any]) -> None:
        super().__init__(url, None, url.removeprefix("s3://"))
        from botocore.exceptions import BotoCoreError, ClientError

        # Listings change under us (other writers): never answer from a stale cache.
        self.options = {
            "use_listings_cache": False,
            "skip_instance_cache": True,
            **options,
            "config_kwargs": s3_config(options.get("config_kwargs")),
        }
        self.backend_errors = (BotoCoreError, ClientError)
        self.piece_size = self.PIECE  # the pieces of a large read (tests make them small)
        self._uploads_dir: Path | None = None
        self._transfers: S3Transfers | None = None
        self._reads: S3Reads | None = None
        self._fast = True  # reads by botocore alone, until one fails
        self._opening = threading.Lock()  # pushes and pulls use a transport from threads

    @property
    def fs(self) -> Any:
        """s3fs's filesystem, made (and s3fs imported) at first use."""
        with self._opening:
            if self._fs is None:
                self._fs = open_filesystem(self.url, self.options)[0]
            return self._fs

    @property
    def transfers(self) -> S3Transfers:
        fs = self.fs
        with self._opening:
            if self._transfers is None:
                from mlvc.store.s3 import S3Transfers  # asyncio: only what needs s3fs

                self._transfers = S3Transfers(fs, self.count, self.stopping)
                if self._uploads_dir is not None:
                    from mlvc.store.uploads import UploadLedger

                    self._transfers.ledger = UploadLedger(self._uploads_dir)
            self._transfers.jobs = self.jobs  # the window is made at the first transfer
            self._transfers.piece_size = self.piece_size
            return self._transfers

    @transfers.setter
    def transfers(self, transfers: S3Transfers) -> None:
        self._transfers = transfers  # (tests give transfers that fail on purpose)

    def keep_uploads_in(self, directory: Path) -> None:
        self._uploads_dir = directory
        if self._transfers is not None:
            from mlvc.store.uploads import UploadLedger

            self._transfers.ledger = UploadLedger(directory)

    def abort_abandoned(self) -> int:
        if self._uploads_dir is None:
            return 0
        bucket, prefix = self._split(self.root)
        with self.errors("unfinished multipart uploads", 0):
            return self.transfers.abort_abandoned(bucket, prefix)

    def _split(self, path: str) -> tuple[str, str]:
        bucket, _, key = path.partition("/")
        return bucket, key

    def _key(self, name: str) -> dict[str, str]:
        bucket, key = self._split(self.path(name))
        return {"Bucket": bucket, "Key": key}

    def _fast_reads(self) -> S3Reads | None:
        """The botocore reads, while they are to be used (made at first use)."""
        with self._opening:
            if self._fast and self._reads is None:
                from mlvc.store.s3reads import S3Reads

                self._reads = S3Reads.make(self.options, self.jobs, self.count)
                self._fast = self._reads is not None
            return self._reads if self._fast else None

    # -- reads: botocore first --------------------------------------------------------

    def _by_botocore(self, name: str, read: Callable[[S3Reads, str, str], T]) -> T | _Skipped:
        """`read(reads, bucket, key)` of `name` by botocore alone, or SKIPPED: not to be
        used, or failed (then the rest of the command goes through s3fs)."""
        reads = self._fast_reads()
        if reads is None:
            return SKIPPED
        from mlvc.store.s3reads import Failed

        try:
            return read(reads, *self._split(self.path(name)))
        except Failed:
            self._fast = False
            return SKIPPED

    def listdir(self, directory: str) -> dict[str, int]:
        got = self._by_botocore(directory, lambda reads, b, k: reads.listdir(b, k))
        return super().listdir(directory) if isinstance(got, _Skipped) else got

    def read(self, name: str) -> bytes | None:
        got = self._by_botocore(name, lambda reads, b, k: reads.read(b, k))
        return super().read(name) if isinstance(got, _Skipped) else got

    def read_ref(self, name: str) -> tuple[bytes, str] | None:
        got = self._by_botocore(name, lambda reads, b, k: reads.read_ref(b, k))
        return super().read_ref(name) if isinstance(got, _Skipped) else got

    def read_ranges(self, name: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        """Byte ranges [start, end) of one file, in parallel, a large range in pieces."""
        if not ranges:
            return []
        piece = self.piece_size
        got = self._by_botocore(name, lambda reads, b, k: reads.read_ranges(b, k, ranges, piece))
        if isinstance(got, _Skipped):
            with self.errors(name, 0):
                got = self.transfers.read_ranges(self._key(name), ranges)
        return self.checked(name, ranges, got)

    def read_into(self, name: str, buffer: memoryview) -> None:
        piece = self.piece_size
        got = self._by_botocore(name, lambda reads, b, k: reads.read_into(b, k, buffer, piece))
        if isinstance(got, _Skipped):
            with self.errors(name, 0):
                self.transfers.read_into(self._key(name), buffer)

    # -- the rest: s3fs, and mlvc's transfers over it ------------------------------------

    def upload(self, name: str, local: Path) -> None:
        """A multipart upload of parts in parallel if larger than one part (aborted if it
        fails), else one PUT."""
        with self.errors(name, 0):
            self.transfers.upload(self._key(name), local)

    def download(self, name: str, local: Path, size: int | None = None) -> None:
        """A whole file by parallel ranged GETs; `local` appears only once complete."""
        key = self._key(name)
        with self.errors(name, 0), replacing(local) as tmp, open(tmp, "wb") as file:
            self.transfers.download(key, file.fileno(), size)


def s3_config(given: Any) -> dict[str, Any]:
    """botocore settings for mlvc's transfers, under any the user gave (`-o
    config_kwargs.KEY=VALUE`). No CRC of every body: each costs ~20 % of the client's
    CPU, and every object is verified by its BLAKE3 id anyway. A pool as large as any
    sensible `-j`, so that parts in flight never queue for a connection."""
    config = dict(given) if isinstance(given, Mapping) else {}
    config.setdefault("request_checksum_calculation", "when_required")
    config.setdefault("response_checksum_validation", "when_required")
    config.setdefault("max_pool_connections", 64)
    return config
