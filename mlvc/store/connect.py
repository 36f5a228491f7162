"""Opening the transport of a remote's URL: S3 (`store/s3transport.py`), a local or
mounted directory (plain `os`), or any other fsspec filesystem (`store/transport.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlvc.store.s3transport import S3Transport
from mlvc.store.transport import (
    DirectoryTransport,
    Transport,
    check_url,
    open_filesystem,
    unopenable,
)


def open_transport(url: str, options: Mapping[str, Any]) -> Transport:
    """The transport for `url` (any fsspec URL, or a local path) with storage options.
    For s3://, nothing is imported yet but botocore's errors: reads go through botocore
    alone, and s3fs comes in at the first request that needs it (store/s3transport.py)."""
    check_url(url)
    if url.startswith("s3://"):
        try:
            return S3Transport(url, options)
        except ImportError:  # no botocore: no s3fs either (mlvc's `s3` extra)
            raise unopenable(url, "Install s3fs to access S3") from None  # fsspec's words
    if "://" not in url or url.startswith("file://"):
        local = url.removeprefix("file://")
        return DirectoryTransport(url, str(Path(local).expanduser().absolute()))
    fs, root = open_filesystem(url, options)  # fsspec: ~0.1 s, for other stores only
    return Transport(url, fs, root)
