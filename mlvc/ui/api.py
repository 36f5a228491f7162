"""The page's read-only queries: each answers with exactly what the CLI's `--json` prints
for the same question, built by the same library call and the same encoder.

| query                                | the CLI twin                                |
|--------------------------------------|-----------------------------------------------|
| `log?limit=N&offset=M[&all=1]`       | `mlvc log --json -n N --skip M [--all]`     |
| `log?path=P[&consumers=1][&all=1]`   | `mlvc log P --json [--consumers] [--all]`   |
| `show?ref=R`                         | `mlvc show R --json`                        |
| `diff?a=A[&b=B]`                     | `mlvc diff A [B] --json`                    |
| `blame?target=T[&depth=N]`           | `mlvc blame T --json [--depth N]`           |
| `graph[?target=T]`                   | `mlvc graph [T] --format json`              |
| `status`                             | `mlvc status --json`                        |
| `series?id=ID`                       | none: a metric series object, decoded       |
| `text?id=ID`                         | `mlvc cat-object ID`'s first 256 KiB, as text |

Paths in queries are relative to the workspace root (the server has no current
directory of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlvc.encode import (
    blame_json,
    graph_json,
    runs_json,
    show_json,
    status_json,
    versions_json,
)
from mlvc.errors import MlvcError
from mlvc.repo import Repo

Query = Mapping[str, str]
Env = Mapping[str, str]  # the environment git runs with (diff's --stat)
PAGE = 50  # runs per page of the runs table
PAGE_LIMIT = 1000
TEXT_LIMIT = 256 * 1024  # a log shown in the page: its first 256 KiB


class BadQueryError(MlvcError):
    pass


def _need(query: Query, name: str) -> str:
    value = query.get(name, "").strip()
    if not value:
        raise BadQueryError(f"missing query parameter '{name}'", hint=f"add ?{name}=...")
    return value


def _number(query: Query, name: str, default: int | None, least: int) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadQueryError(f"'{name}' must be a whole number, not '{text}'") from None
    if value < least:
        raise BadQueryError(f"'{name}' must be at least {least}, not {value}")
    return value


def _flag(query: Query, name: str) -> bool:
    return query.get(name, "") in ("1", "true", "yes")


def log(repo: Repo, query: Query, env: Env) -> Any:
    from mlvc.lineage.log import log_path, log_runs

    if "path" in query:
        path = _need(query, "path").strip("/")
        versions = log_path(repo, path, _flag(query, "consumers"), _flag(query, "all"))
        return versions_json(path, versions)
    limit = min(_number(query, "limit", PAGE, 1) or PAGE, PAGE_LIMIT)
    offset = _number(query, "offset", 0, 0) or 0
    return runs_json(log_runs(repo, limit, None, None, _flag(query, "all"), offset))


def show(repo: Repo, query: Query, env: Env) -> Any:
    from mlvc.porcelain.show import show as run_show

    return show_json(run_show(repo, _need(query, "ref"), repo.root))


def diff(repo: Repo, query: Query, env: Env) -> Any:
    from mlvc.lineage.diff import diff as run_diff

    b = query.get("b", "").strip() or None
    return run_diff(repo, _need(query, "a"), b, env=env)


def blame(repo: Repo, query: Query, env: Env) -> Any:
    from mlvc.lineage.blame import blame as run_blame

    depth = _number(query, "depth", None, 1)
    return blame_json(run_blame(repo, _need(query, "target"), repo.root, depth))


def graph(repo: Repo, query: Query, env: Env) -> Any:
    from mlvc.lineage.graph import lineage

    target = query.get("target", "").strip() or None
    return graph_json(lineage(repo, target, repo.root))


def status(repo: Repo, query: Query, env: Env) -> Any:
    from mlvc.porcelain.status import status as run_status

    return status_json(run_status(repo))


def _file(repo: Repo, ref: str, limit: int) -> tuple[bytes, bool]:
    """The first `limit` bytes of a stored file, and whether there was more."""
    from mlvc.porcelain.plumbing import cat_object

    found = cat_object(repo, ref)
    if found.chunks is None:
        raise BadQueryError(f"{ref} is a {found.kind.label}, not file content")
    data = bytearray()
    for chunk in found.chunks:
        data += chunk
        if len(data) > limit:
            return bytes(data[:limit]), True
    return bytes(data), False


def series(repo: Repo, query: Query, env: Env) -> Any:
    """A metric series (`logs.metric_series[key]` of a run): `[[step, value], ...]`."""
    from mlvc.codec import decode

    data, cut = _file(repo, _need(query, "id"), TEXT_LIMIT * 16)
    value = None if cut else decode(data, "metric series")
    if not isinstance(value, list):
        raise BadQueryError("not a metric series", hint="give an id from logs.metric_series")
    return value


def text(repo: Repo, query: Query, env: Env) -> Any:
    """A stored text (a run's stdout or stderr), its first TEXT_LIMIT bytes."""
    data, cut = _file(repo, _need(query, "id"), TEXT_LIMIT)
    return {"text": data.decode("utf-8", "replace"), "truncated": cut, "limit": TEXT_LIMIT}


ROUTES: dict[str, Callable[[Repo, Query, Env], Any]] = {
    "log": log,
    "show": show,
    "diff": diff,
    "blame": blame,
    "graph": graph,
    "status": status,
    "series": series,
    "text": text,
}
