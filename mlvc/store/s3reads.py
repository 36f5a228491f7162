"""Reads of an S3 remote by a synchronous botocore client, without s3fs.

A command that only reads a remote (a checkout whose data is there, `pull`, `fetch`,
`clone`) spent most of its set-up importing s3fs and the async stack under it
(aiobotocore, aiohttp: ~0.3 s) and making its first client (~0.15 s). botocore alone
takes ~0.12 s to import and ~0.08 s to make a client. So the S3 transport
(`store/s3transport.py`) lists, reads and reads ranges through `S3Reads`, and imports
s3fs only for what writes (and for whatever this module cannot do).

`S3Reads` is made only from options it maps exactly as s3fs maps them
(`client_arguments`: the same credentials, profile, endpoint, client and config
arguments, as `s3threads._sync_client` builds them from a filesystem), and only when no
fsspec configuration could add others. Its client makes one attempt per request: any
failure other than an absent object or listing sends the request again the s3fs way
(its retries, its errors), and the transport stops using this module for the rest of
the command. Whole packs are read as the s3fs way reads them too
(`s3threads.DirectReads`: ranged GETs of a presigned URL, each piece read into its place).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mlvc.store import s3threads

T = TypeVar("T")

# The storage options this module maps as s3fs does; any other sends every request
# through s3fs. fsspec's listing-cache options only shape s3fs's own cache.
_KNOWN = frozenset(
    {"endpoint_url", "key", "secret", "token", "username", "password", "anon", "use_ssl",
     "client_kwargs", "config_kwargs", "profile", "use_listings_cache",
     "skip_instance_cache", "listings_expiry_time", "max_paths"}
)  # fmt: skip
# s3fs's own defaults (S3FileSystem.connect_timeout, read_timeout).
_TIMEOUTS = {"connect_timeout": 5, "read_timeout": 15}
_ABSENT = frozenset({"NoSuchKey", "404", "NotFound"})


class Failed(Exception):
    """A request this module could not complete: the caller sends it through s3fs."""


def client_arguments(options: Mapping[str, Any]) -> dict[str, Any] | None:
    """The arguments of the botocore session and client s3fs would make from `options`
    (`session`, `client`, `config`), or None where this module does not map them all."""
    if set(options) - _KNOWN or _fsspec_configured():
        return None
    if (options.get("key") and options.get("username")) or (
        options.get("secret") and options.get("password")
    ):
        return None  # s3fs refuses both: let it say so
    client = dict(options.get("client_kwargs") or {})
    config = {**_TIMEOUTS, **dict(options.get("config_kwargs") or {})}
    given = {
        "aws_access_key_id": options.get("key") or options.get("username"),
        "aws_secret_access_key": options.get("secret") or options.get("password"),
        "aws_session_token": options.get("token"),
        "endpoint_url": options.get("endpoint_url"),
    }
    init = {k: v for k, v in given.items() if v is not None and v != client.get(k)}
    if init.keys() & client.keys():
        return None  # given twice, differently: s3fs's client refuses it, let it say so
    if "use_ssl" not in client:
        init["use_ssl"] = options.get("use_ssl", True)
    anonymous = bool(options.get("anon"))
    if anonymous:
        for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            init.pop(key, None)
            client.pop(key, None)
    session = {"profile": options["profile"]} if options.get("profile") else {}
    return {"session": session, "client": {**init, **client}, "config": config,
            "anonymous": anonymous}  # fmt: skip


def _fsspec_configured() -> bool:
    """Whether fsspec's configuration (FSSPEC_* variables, its config directory) may add
    options to an S3 filesystem: then only s3fs knows them."""
    if any(name.startswith("FSSPEC_") for name in os.environ):
        return True
    directory = os.path.expanduser(os.path.join("~", ".config", "fsspec"))
    try:
        return bool(os.listdir(directory))
    except OSError:
        return False


class S3Reads:
    """A synchronous botocore client and `jobs` threads for ranged reads. `count(n)`:
    told of each request made."""

    def __init__(
        self, client: Any, jobs: int, count: Callable[[int], None], verify: object = True
    ) -> None:
        self.client = client
        self.verify = verify  # the client's certificate setting: direct reads need the default
        self.jobs = max(1, jobs)
        self.count = count
        self._pool: ThreadPoolExecutor | None = None
        self._direct: s3threads.DirectReads | None = None
        self._making = threading.Lock()

    @classmethod
    def make(
        cls, options: Mapping[str, Any], jobs: int, count: Callable[[int], None]
    ) -> S3Reads | None:
        """None where the options are not all mapped, or no client can be made from
        them (a profile that does not exist): s3fs then says what is wrong."""
        arguments = client_arguments(options)
        if arguments is None:
            return None
        try:
            import botocore.session
            from botocore.config import Config

            config = dict(arguments["config"])
            if arguments["anonymous"]:
                from botocore import UNSIGNED

                config["signature_version"] = UNSIGNED
            config["retries"] = {"total_max_attempts": 1}  # a failure goes to s3fs at once
            config["max_pool_connections"] = max(config.get("max_pool_connections", 10), jobs)
            session = botocore.session.Session(**arguments["session"])
            client = session.create_client("s3", config=Config(**config), **arguments["client"])
        except Exception:
            return None
        return cls(client, jobs, count, arguments["client"].get("verify", True))

    def listdir(self, bucket: str, prefix: str) -> dict[str, int]:
        """File name -> size, for the objects directly under `prefix` (a directory)."""
        found: dict[str, int] = {}
        ask: dict[str, Any] = {
            "Bucket": bucket,
            "Prefix": f"{prefix.rstrip('/')}/",
            "Delimiter": "/",
        }
        while True:
            page = self._call("list_objects_v2", **ask)
            for item in page.get("Contents", ()):
                key = str(item["Key"])
                if not key.endswith("/"):  # a directory's marker (as s3fs, which skips it)
                    found[key.rsplit("/", 1)[-1]] = int(item.get("Size") or 0)
            if not page.get("IsTruncated"):
                return found
            token = page.get("NextContinuationToken")
            if not token or token == ask.get("ContinuationToken"):  # a server's bug: s3fs's
                raise Failed("a listing that does not go on")  # paginator says what it is
            ask["ContinuationToken"] = token

    def read(self, bucket: str, key: str) -> bytes | None:
        """A whole object, or None if there is none."""
        got: bytes | None = self._call("get_object", absent_ok=True, Bucket=bucket, Key=key)
        return got

    def read_ref(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        """An object's bytes and its ETag, the ETag read first (`Transport.read_ref`)."""
        head = self._call("head_object", absent_ok=True, Bucket=bucket, Key=key)
        if head is None:
            return None
        data = self.read(bucket, key)
        return None if data is None else (data, str(head["ETag"]))

    def read_ranges(
        self, bucket: str, key: str, ranges: list[tuple[int, int]], piece: int
    ) -> list[bytes]:
        """Byte ranges [start, end) of an object, `jobs` pieces of at most `piece` bytes
        in flight. A range past the object's end comes back short."""
        pool = self._threads()
        pieces: list[list[Future[bytes]]] = [
            [
                pool.submit(self._get, bucket, key, at, min(at + piece, end))
                for at in range(start, end, piece)
            ]
            for start, end in ranges
        ]
        got = _gathered([f for parts in pieces for f in parts])
        joined, at = [], 0
        for parts in pieces:
            joined.append(b"".join(got[at : at + len(parts)]))
            at += len(parts)
        return joined

    def read_into(self, bucket: str, key: str, buffer: memoryview, piece: int) -> None:
        """An object's first len(buffer) bytes into `buffer`, in pieces in parallel, each
        read from its response straight into its place."""
        from botocore.exceptions import BotoCoreError

        from mlvc.store import s3threads

        try:  # signing needs credentials: none found is a failure for s3fs to report
            url = self.client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600
            )
        except BotoCoreError as exc:
            raise Failed(str(exc)) from exc
        if not s3threads.direct_url(url, self.verify):
            raise Failed("no direct reads for this endpoint")
        with self._making:  # pulls read packs from LOOKAHEAD threads: one pool for all
            if self._direct is None:
                self._direct = s3threads.DirectReads(self.jobs)
            direct = self._direct
        done = []
        for at in range(0, len(buffer), piece):
            self.count(1)
            done.append(direct.submit(url, buffer[at : at + piece], at))
        _gathered(done)

    def _threads(self) -> ThreadPoolExecutor:
        with self._making:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="mlvc-read")
            return self._pool

    def _get(self, bucket: str, key: str, start: int, end: int) -> bytes:
        span = f"bytes={start}-{end - 1}"
        got: bytes = self._call("get_object", Bucket=bucket, Key=key, Range=span)
        return got

    def _call(self, method: str, absent_ok: bool = False, **kwargs: Any) -> Any:
        """One request (for `get_object`: the body's bytes); None for an absent object if
        `absent_ok`; Failed otherwise."""
        from botocore.exceptions import BotoCoreError, ClientError

        self.count(1)
        try:
            answer = getattr(self.client, method)(**kwargs)
            return _body(answer) if method == "get_object" else answer
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if absent_ok and {str(error.get("Code")), str(status)} & _ABSENT:
                return None
            raise Failed(str(exc)) from exc
        except (BotoCoreError, OSError, ValueError) as exc:
            raise Failed(str(exc)) from exc


def _gathered(futures: list[Future[T]]) -> list[T]:
    """The futures' results. At the first failure (or Ctrl-C) the pieces not yet begun
    are cancelled and those under way waited for, so that none still writes into a
    buffer, or keeps downloading, once the error reaches the caller; then Failed."""
    try:
        return [f.result() for f in futures]
    except BaseException as exc:
        for future in futures:
            future.cancel()
        wait(futures)
        if isinstance(exc, Exception) and not isinstance(exc, Failed):
            raise Failed(str(exc)) from exc
        raise


def _body(got: dict[str, Any]) -> bytes:
    body = got["Body"]
    try:
        return bytes(body.read())
    finally:
        body.close()
