"""The read-only HTTP server behind `mlvc ui`: the page's files and its JSON queries
(mlvc.ui.api), GET and HEAD only, on the loopback interface unless told otherwise.

Every answer carries a Content-Security-Policy that allows scripts from the server's own
files only, so text from a run that reached the page as HTML could still not run. A Host
header naming another site is refused: a page on the internet that rebinds its own name
to 127.0.0.1 cannot read the store through the user's browser.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mlvc.encode import to_json
from mlvc.errors import MlvcError, ObjectNotFoundError, PathNotFoundError
from mlvc.repo import Repo
from mlvc.ui import api

# Scripts come from the page's own files only. Styles too, but for cytoscape's one
# injected rule (`.__________cytoscape_container { position: relative; }`, allowed by its
# hash) and style attributes, by which cytoscape and uPlot size their canvases: neither
# can run script. index.html carries the same policy for the exported page.
CYTOSCAPE_RULE = "'sha256-pgvDUBa4IjFA2yuSJ2cqcyxmNYJMborsd0ORcRv9vw8='"
CSP = (
    f"default-src 'none'; script-src 'self'; style-src 'self' {CYTOSCAPE_RULE};"
    " style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self';"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
READ_ONLY = "GET, HEAD"


def static_files() -> dict[str, tuple[bytes, str]]:
    """Every file of the page by its URL path ("/" is index.html), with its media type."""
    root = resources.files("mlvc.ui") / "static"
    found: dict[str, tuple[bytes, str]] = {}
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        for item in folder.iterdir():
            name = f"{prefix}/{item.name}"
            if item.is_dir():
                stack.append((item, name))
            else:
                found[name] = (item.read_bytes(), _media_type(item.name))
    found["/"] = found["/index.html"]
    return found


# The page's file types (mimetypes would read the system's tables at every start-up);
# anything else, such as the vendored LICENSE files, is plain text.
_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}


def _media_type(name: str) -> str:
    kind = _TYPES.get(Path(name).suffix, "text/plain")
    return kind if kind.startswith("image/") else f"{kind}; charset=utf-8"


def _status(exc: MlvcError) -> HTTPStatus:
    """404 for a name that names nothing, 400 for any other refused question."""
    from mlvc.lineage.blame import ProducerNotFoundError
    from mlvc.lineage.resolve import UnknownRefError

    missing = (ObjectNotFoundError, PathNotFoundError, ProducerNotFoundError, UnknownRefError)
    return HTTPStatus.NOT_FOUND if isinstance(exc, missing) else HTTPStatus.BAD_REQUEST


class Handler(BaseHTTPRequestHandler):
    server: UiServer
    server_version = "mlvc-ui"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _refuse(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, _error("mlvc ui is read-only"), True)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the terminal shows the URL, not every request."""

    def _answer(self, body: bool) -> None:
        if not self.server.host_allowed(self.headers.get("Host", "")):
            self._send(HTTPStatus.FORBIDDEN, _error("unexpected Host header"), body)
            return
        url = urlsplit(self.path)
        if url.path.startswith("/api/"):
            query = dict(parse_qsl(url.query, keep_blank_values=True))
            status, value = self.server.query(url.path[len("/api/") :], query)
            self._send(status, value, body)
            return
        found = self.server.files.get(url.path)
        if found is None:
            self._send(HTTPStatus.NOT_FOUND, _error(f"no page at {url.path}"), body)
            return
        self._send(HTTPStatus.OK, found, body)

    def _send(self, status: HTTPStatus, content: tuple[bytes, str], body: bool) -> None:
        data, kind = content
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Cache-Control", "no-store")
            if status == HTTPStatus.METHOD_NOT_ALLOWED:
                self.send_header("Allow", READ_ONLY)
            self.end_headers()
            if body:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser left the page before the answer came: nobody to tell


def _error(message: str, hint: str | None = None) -> tuple[bytes, str]:
    text = json.dumps({"error": message, "hint": hint}, indent=2, sort_keys=True) + "\n"
    return text.encode(), "application/json"


class UiServer(ThreadingHTTPServer):
    """Serves one repository; each query opens it afresh (a thread of its own, and the
    newest runs seen), so requests never share a database connection."""

    daemon_threads = True

    def __init__(
        self,
        root: Path,
        address: tuple[str, int],
        env: Mapping[str, str],
        on_crash: Callable[[BaseException], None],
    ) -> None:
        super().__init__(address, Handler)
        self.root = root
        self.env = env
        self.files = static_files()
        self.on_crash = on_crash
        self.bound_host = address[0]

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), self.server_address[1]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def host_allowed(self, header: str) -> bool:
        if self.bound_host not in LOOPBACK:
            return True  # served on a network on purpose (--host): any name may reach it
        name = header.rpartition(":")[0] if not header.endswith("]") else header
        return (name or header) in LOOPBACK

    def query(self, name: str, query: dict[str, str]) -> tuple[HTTPStatus, tuple[bytes, str]]:
        route = api.ROUTES.get(name)
        if route is None:
            return HTTPStatus.NOT_FOUND, _error(f"no query named '{name}'")
        try:
            repo = Repo.discover(self.root)
            try:
                value = route(repo, query, self.env)
            finally:
                repo.close()
        except MlvcError as exc:
            return _status(exc), _error(exc.message, exc.hint)
        except Exception as exc:  # a bug: the page says so, the terminal gets the trace
            self.on_crash(exc)
            return HTTPStatus.INTERNAL_SERVER_ERROR, _error(f"internal error: {exc}")
        return HTTPStatus.OK, (to_json(value).encode(), "application/json")
