"""`mlvc ui`: serve the lineage page from the local store, or export it as static files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mlvc.cli import render
from mlvc.errors import MlvcError


class ListenError(MlvcError):
    pass


def ui_command(host: str, port: int, open_browser: bool, export: Path | None) -> None:
    from mlvc.repo import Repo

    repo = Repo.discover(Path.cwd())
    root = repo.root
    if export is not None:
        from mlvc.ui.export import export as write_export

        try:
            result = write_export(repo, export, dict(os.environ))
        finally:
            repo.close()
        index = (result.path / "index.html").resolve()
        sys.stdout.write(
            f"exported {result.runs} runs ({result.answers} answers) to"
            f" {render.shown(result.path)}\nopen {render.shown(index.as_uri())}\n"
        )
        return
    repo.close()
    _serve(root, host, port, open_browser)


def _serve(root: Path, host: str, port: int, open_browser: bool) -> None:
    from mlvc.ui.server import UiServer

    try:
        server = UiServer(root, (host, port), dict(os.environ), _crashed)
    except OSError as exc:
        raise ListenError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="'mlvc ui --port 0' picks a free port",
        ) from None
    # The URL goes out first and at once: scripts (and the tests) read it to connect.
    sys.stdout.write(f"mlvc ui: serving {render.shown(root)} at {server.url}\n")
    sys.stdout.write("read-only; Ctrl-C stops it\n")
    sys.stdout.flush()
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _crashed(exc: BaseException) -> None:
    """A query hit a bug: the trace on stderr, the server keeps serving the other pages."""
    import traceback

    text = "".join(traceback.format_exception(exc))
    sys.stderr.write(render.shown(text, block=True))
    sys.stderr.flush()
