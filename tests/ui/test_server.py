"""The server behind `mlvc ui`, over HTTP: every query answers exactly what the CLI's
`--json` prints for the same question; read-only; its headers; refused Host names; the
export's data; and `mlvc.ui` stays out of every other command's start-up."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import MLVC
from tests.ui.conftest import Served, start_ui, stop


def request(
    url: str, path: str, method: str = "GET", host: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=60)
    headers = {"Host": host} if host is not None else {}
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), body


def cli(served: Served, *args: str) -> bytes:
    return subprocess.run(
        [MLVC, *args], cwd=served.workspace, capture_output=True, check=True
    ).stdout


def test_queries_answer_what_the_cli_prints(served: Served) -> None:
    runs = served.runs
    train, train2 = runs["train"], runs["train2"]
    pairs = [
        ("/api/log?limit=2&offset=1", ["log", "--json", "-n", "2", "--skip", "1"]),
        ("/api/log?limit=50&offset=0&all=1", ["log", "--json", "-n", "50", "--all"]),
        ("/api/log?path=model&consumers=1", ["log", "model", "--json", "--consumers"]),
        (f"/api/show?ref={train}", ["show", train, "--json"]),
        ("/api/show?ref=model/model.json", ["show", "model/model.json", "--json"]),
        (f"/api/diff?a={train}&b={train2}", ["diff", train, train2, "--json"]),
        (f"/api/diff?a={train2}", ["diff", train2, "--json"]),
        ("/api/blame?target=metrics.json", ["blame", "metrics.json", "--json"]),
        (
            "/api/blame?target=metrics.json&depth=2",
            ["blame", "metrics.json", "--json", "--depth", "2"],
        ),
        ("/api/graph", ["graph", "--format", "json"]),
        ("/api/graph?target=model", ["graph", "model", "--format", "json"]),
        ("/api/status", ["status", "--json"]),
    ]
    for path, args in pairs:
        status, headers, body = request(served.url, path)
        assert status == 200, (path, body)
        assert headers["Content-Type"] == "application/json"
        assert body == cli(served, *args), path


def test_logs_patches_and_series(served: Served) -> None:
    shown = json.loads(cli(served, "show", served.runs["curve"], "--json"))
    status, _, body = request(served.url, f"/api/text?id={shown['logs']['stdout']}")
    assert status == 200
    assert json.loads(body) == {"text": "fitted the curve\n", "truncated": False, "limit": 262144}
    status, _, body = request(
        served.url, f"/api/series?id={shown['logs']['metric_series']['loss']}"
    )
    points = json.loads(body)
    assert len(points) == 25
    assert points[0] == [0, 1.0]
    status, _, body = request(served.url, f"/api/series?id={shown['logs']['stdout']}")
    assert status == 400
    assert json.loads(body)["error"].startswith("metric series does not decode")


def test_errors_are_json_with_a_hint(served: Served) -> None:
    status, _, body = request(served.url, "/api/show?ref=nosuchrun")
    assert status == 404
    assert json.loads(body)["error"] == "no run, tag or object named 'nosuchrun'"
    assert json.loads(body)["hint"]
    status, _, body = request(served.url, "/api/log?limit=zero")
    assert (status, json.loads(body)["error"]) == (
        400,
        "'limit' must be a whole number, not 'zero'",
    )
    status, _, body = request(served.url, "/api/show")
    assert (status, json.loads(body)["error"]) == (400, "missing query parameter 'ref'")
    assert request(served.url, "/api/nothing")[0] == 404
    assert request(served.url, "/etc/passwd")[0] == 404
    assert request(served.url, "/../mlvc/ui/api.py")[0] == 404


def test_read_only(served: Served) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, _ = request(served.url, "/api/log", method)
        assert status == 405, method
        assert headers["Allow"] == "GET, HEAD"
    status, _, body = request(served.url, "/", "HEAD")
    assert (status, body) == (200, b"")


def test_headers_forbid_scripts_that_are_not_the_page_s_own(served: Served) -> None:
    status, headers, body = request(served.url, "/")
    assert status == 200
    assert b'<script src="js/app.js"></script>' in body
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy.split("style-src-attr")[0]
    assert "unsafe-eval" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, _ = request(served.url, "/vendor/cytoscape.min.js")
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"


def test_another_site_s_name_is_refused(served: Served) -> None:
    """A DNS-rebinding page (evil.example resolving to 127.0.0.1) gets nothing."""
    status, _, body = request(served.url, "/api/log", host="evil.example:80")
    assert status == 403
    assert json.loads(body)["error"] == "unexpected Host header"
    port = urlsplit(served.url).port
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        assert request(served.url, "/api/log", host=host)[0] == 200


def test_serves_loopback_only_and_reports_a_taken_port(served: Served) -> None:
    assert urlsplit(served.url).hostname == "127.0.0.1"
    port = str(urlsplit(served.url).port)
    result = subprocess.run(
        [MLVC, "ui", "--port", port], cwd=served.workspace, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port 0" in result.stderr


def test_host_option_serves_other_interfaces(served: Served) -> None:
    """`--host 0.0.0.0` is on purpose: any name the machine is reached by is accepted."""
    process, url = start_ui(served.workspace, "--host", "0.0.0.0")
    try:
        assert urlsplit(url).hostname == "0.0.0.0"
        assert request(url, "/api/status", host="workstation.lan:8700")[0] == 200
    finally:
        stop(process)


def test_export_holds_the_answers(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = subprocess.run(
        [MLVC, "ui", "--export", str(out)],
        cwd=served.workspace,
        capture_output=True,
        text=True,
        check=True,
    )
    assert re.match(r"exported 7 runs \(\d+ answers\) to ", result.stdout)
    for name in ("index.html", "js/app.js", "vendor/cytoscape.min.js", "vendor/uplot.LICENSE"):
        assert (out / name).is_file(), name
    text = (out / "data.js").read_text()
    assert text.isascii()
    data = json.loads(text.split("window.MLVC_DATA = ", 1)[1].rstrip(";\n"))
    train, train2 = served.runs["train"], served.runs["train2"]
    assert data[f"show?ref={train}"]["body"] == json.loads(cli(served, "show", train, "--json"))
    diff = data[f"diff?a={train}&b={train2}"]["body"]
    assert diff == json.loads(cli(served, "diff", train, train2, "--json"))
    assert data["log?limit=50&offset=0"]["body"] == json.loads(
        cli(served, "log", "--json", "-n", "50")
    )


@pytest.mark.parametrize("args", [["status"], ["log"], ["show"], ["diff", "latest~1"], ["--help"]])
def test_other_commands_never_import_the_ui(served: Served, args: list[str]) -> None:
    code = "import sys; from mlvc.cli import main; sys.argv = ['mlvc', *sys.argv[1:]]; main()"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args],
        cwd=served.workspace,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "mlvc.ui" not in imported
    assert "http.server" not in imported
