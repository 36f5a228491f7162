"""`mlvc ui --export DIR`: the page as static files, with the answers to every query it
can ask about the store written into `data.js`, so it opens from disk (file://) or as a
CI artifact, with no server.

What is answered: the status, the whole graph, every page of the runs list (with and
without failed runs), and for each run its record, its upstream graph, its logs and
metric series, its diff with the run it superseded, and its diff with each of the
newest DIFF_PEERS runs of the same command (older first, as the page asks). Other
questions (a path's blame, an arbitrary pair) need `mlvc ui`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlvc.encode import plain
from mlvc.errors import MlvcError
from mlvc.repo import Repo
from mlvc.ui import api
from mlvc.ui.server import static_files

DIFF_PEERS = 10


@dataclass(frozen=True)
class ExportResult:
    path: Path
    runs: int
    answers: int


def key(name: str, query: dict[str, str]) -> str:
    """The page's name for a query (app.js `queryKey`): sorted, encodeURIComponent-quoted."""
    pairs = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items()))
    return f"{name}?{pairs}" if pairs else name


def _quote(text: str) -> str:
    return quote(text, safe="!*'()")


def export(repo: Repo, dest: Path, env: Mapping[str, str]) -> ExportResult:
    answers: dict[str, Any] = {}
    _pages(repo, env, {}, answers)
    runs = _pages(repo, env, {"all": "1"}, answers)
    for name, query in _queries(repo, runs, env):
        try:
            answers[key(name, query)] = {"status": 200, "body": api.ROUTES[name](repo, query, env)}
        except MlvcError as exc:  # as the server answers it: the page shows the error
            body = {"error": exc.message, "hint": exc.hint}
            answers[key(name, query)] = {"status": 400, "body": body}
    _write(dest, answers)
    return ExportResult(dest, len(runs), len(answers))


def _pages(
    repo: Repo, env: Mapping[str, str], only: dict[str, str], answers: dict[str, Any]
) -> list[Any]:
    """Every page of the runs list into `answers`; the runs listed."""
    runs: list[Any] = []
    while True:
        query = {"limit": str(api.PAGE), "offset": str(len(runs)), **only}
        page = api.log(repo, query, env)
        answers[key("log", query)] = {"status": 200, "body": page}
        runs += page["runs"]
        if len(page["runs"]) < api.PAGE:
            return runs


def _queries(
    repo: Repo, runs: list[Any], env: Mapping[str, str]
) -> Iterator[tuple[str, dict[str, str]]]:
    yield "status", {}
    yield "graph", {}
    by_step: dict[tuple[str, ...], list[str]] = {}
    for summary in runs:
        oid = summary.id.hex()
        by_step.setdefault(tuple(summary.command), []).append(oid)
        yield "show", {"ref": oid}
        yield "graph", {"target": oid}
        yield "diff", {"a": oid}
        record = api.show(repo, {"ref": oid}, env)
        logs = record.get("logs") or {}
        for stream in ("stdout", "stderr"):
            if isinstance(logs.get(stream), bytes):
                yield "text", {"id": logs[stream].hex()}
        if isinstance(record["code"].get("patch"), bytes):
            yield "text", {"id": record["code"]["patch"].hex()}
        for series in (logs.get("metric_series") or {}).values():
            yield "series", {"id": series.hex()}
    for oids in by_step.values():
        newest = list(reversed(oids[:DIFF_PEERS]))  # older first
        for i, older in enumerate(newest):
            for newer in newest[i + 1 :]:
                yield "diff", {"a": older, "b": newer}


def _write(dest: Path, answers: dict[str, Any]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name, (data, _) in static_files().items():
        if name == "/":
            continue
        target = dest / name.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    # ensure_ascii: the file is JavaScript; no character in it can end or escape a string.
    payload = json.dumps(plain(answers), sort_keys=True, ensure_ascii=True)
    (dest / "data.js").write_text(f'"use strict";\nwindow.MLVC_DATA = {payload};\n')
