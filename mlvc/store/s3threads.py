"""S3 transfers on threads of their own, beside s3fs's event loop (`store/s3.py`).

Through s3fs's loop, every received block is a Python callback and two copies (the
socket's bytes, then into the buffer), and every part sent is copied and hashed for its
signature, all on the one thread that drives every other request: 3.7 s of CPU for a
2 GiB pull here, and a push's parts wait on each other's hashing. On threads, the work
is done with the GIL released (`readinto` into the buffer, `hashlib`, `sendall`) and
both cores serve it:

- `DirectReads`: whole-pack reads, as ranged GETs of a URL presigned by s3fs's own
  client (its credentials, endpoint and region) over the standard library's
  `http.client`, each response read by `readinto` into its place (1.9 s of CPU for
  the same pull);
- `PartUploads`: the parts of a multipart upload, by a synchronous botocore client
  made from the s3fs filesystem's own settings (what boto3's managed uploads do).

Both are a fast path only: a request that fails here for any reason is sent again the
s3fs way (its retries, and its errors translated as for any other request), and the
caller stops using the threads for the rest of the command. They apply only where
nothing else shapes a request (`usable`).
"""

from __future__ import annotations

import http.client
import ssl
import threading
import urllib.parse
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

TIMEOUT = 60.0  # seconds without a byte before a connection is given up (s3fs: 60)


class Unsuitable(Exception):
    """This read cannot go the direct way; the caller takes the s3fs way instead."""


def usable(fs: Any, url: str) -> bool:
    """Whether a presigned `url` of `fs` may be fetched directly: a plain http(s) URL, no
    proxy for its host, default certificate checks, and no request arguments (requester
    pays, SSE-C keys) that s3fs would add to every request."""
    if getattr(fs, "req_kw", None) or getattr(fs, "s3_additional_kwargs", None):
        return False
    return direct_url(url, (getattr(fs, "client_kwargs", None) or {}).get("verify", True))


def direct_url(url: str, verify: object = True) -> bool:
    """Whether a presigned `url` may be fetched directly: a plain http(s) URL, no proxy
    for its host, and the default certificate checks (`verify`, a client argument)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or verify is not True:
        return False
    proxies = urllib.request.getproxies()
    return not (parts.scheme in proxies and not urllib.request.proxy_bypass(parts.hostname))


class DirectReads:
    """A pool of `jobs` threads, each with its own kept-alive connection per host."""

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, jobs)
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._lock = threading.Lock()

    def submit(self, url: str, view: memoryview, at: int) -> Future[None]:
        """Read bytes [at, at + len(view)) of the object at `url` into `view`."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="mlvc-get")
            return self._pool.submit(self._get, url, view, at)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def _connection(self, parts: urllib.parse.SplitResult) -> http.client.HTTPConnection:
        key = (parts.scheme, parts.netloc)
        kept: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "connections", {}
        )
        conn = kept.get(key)
        if conn is None:
            if parts.scheme == "https":
                conn = http.client.HTTPSConnection(
                    parts.netloc, timeout=TIMEOUT, context=ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(parts.netloc, timeout=TIMEOUT)
            kept[key] = conn
        return conn

    def _get(self, url: str, view: memoryview, at: int) -> None:
        parts = urllib.parse.urlsplit(url)
        conn = self._connection(parts)
        end = at + len(view)
        try:
            conn.request(
                "GET", f"{parts.path}?{parts.query}", headers={"Range": f"bytes={at}-{end - 1}"}
            )
            response = conn.getresponse()
            span = response.getheader("Content-Range", "").split("/")[0]
            if response.status != 206 or span != f"bytes {at}-{end - 1}":
                response.read()  # the connection stays usable
                raise Unsuitable(f"status {response.status}")
            got = 0
            while got < len(view) and (n := response.readinto(view[got:])):
                got += n
            if got != len(view) or response.read(1):
                raise Unsuitable(f"{got} of {len(view)} bytes")
        except BaseException:
            conn.close()
            raise


class PartUploads:
    """A synchronous botocore client for `upload_part`, built as s3fs builds its own
    (`S3FileSystem.set_session`): the same credentials, profile, endpoint, client and
    config arguments; a pool of `jobs` threads."""

    def __init__(self, client: Any, jobs: int) -> None:
        self._client = client
        self._pool = ThreadPoolExecutor(max(1, jobs), thread_name_prefix="mlvc-put")

    @classmethod
    def make(cls, fs: Any, jobs: int) -> PartUploads | None:
        """None if no such client can be made from these settings."""
        try:
            return cls(_sync_client(fs, jobs), jobs)
        except Exception:  # settings only the async client knows: the s3fs way
            return None

    def submit(self, body: bytes, **kwargs: Any) -> Future[dict[str, Any]]:
        return self._pool.submit(self._send, body, kwargs)

    def _send(self, body: bytes, kwargs: dict[str, Any]) -> dict[str, Any]:
        sent: dict[str, Any] = self._client.upload_part(Body=body, **kwargs)
        return sent


def _sync_client(fs: Any, jobs: int) -> Any:
    import botocore.session
    from botocore.config import Config

    client_kwargs = dict(fs.client_kwargs)
    given = {
        "aws_access_key_id": fs.key,
        "aws_secret_access_key": fs.secret,
        "aws_session_token": fs.token,
        "endpoint_url": fs.endpoint_url,
    }
    init = {k: v for k, v in given.items() if v is not None and v != client_kwargs.get(k)}
    if "use_ssl" not in client_kwargs:
        init["use_ssl"] = fs.use_ssl
    config_kwargs = {
        "connect_timeout": fs.connect_timeout,
        "read_timeout": fs.read_timeout,
        **fs.config_kwargs,
        "max_pool_connections": max(1, jobs),
    }
    if fs.anon:
        from botocore import UNSIGNED

        config_kwargs["signature_version"] = UNSIGNED
        for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            init.pop(key, None)
            client_kwargs.pop(key, None)
    session = botocore.session.Session(**fs.kwargs)
    return session.create_client("s3", config=Config(**config_kwargs), **init, **client_kwargs)
