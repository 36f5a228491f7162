""" "Did you mean": the run ids, tags and recorded paths closest to a name that named
nothing, for the hint of an unknown-ref error."""

from __future__ import annotations

import difflib

from mlvc.repo import Repo
from mlvc.store.refs import Tags

_LIMIT = 3


def did_you_mean(repo: Repo, text: str, paths_only: bool = False) -> list[str]:
    """Up to three names close to `text`: run-id prefixes of its length, tags, paths."""
    text = text.strip()
    found = _paths(repo, text.strip("/"))
    if not paths_only:
        found = [*_runs(repo, text.lower()), *_tags(repo, text), *found]
    return list(dict.fromkeys(found))[:_LIMIT]


def _runs(repo: Repo, text: str) -> list[str]:
    """Run ids whose prefix of the same length is one or two characters away."""
    if len(text) < 4 or any(c not in "0123456789abcdef" for c in text):
        return []
    prefixes = {oid.hex()[: len(text)] for oid in repo.index.history.run_ids(ok_only=False)}
    return difflib.get_close_matches(text, prefixes, _LIMIT, cutoff=0.74)


def _tags(repo: Repo, text: str) -> list[str]:
    return difflib.get_close_matches(text, Tags(repo.dir).names(), _LIMIT, cutoff=0.6)


def _paths(repo: Repo, path: str) -> list[str]:
    if not path:
        return []
    paths = repo.index.history.recorded_paths()
    close = difflib.get_close_matches(path, paths, _LIMIT, cutoff=0.7)
    # A bare name (`model.pkl` for `models/model.pkl`) is close too: the shortest first.
    named = [p for p in paths if "/" not in path and p.endswith(f"/{path}")]
    return [*close, *sorted(named, key=len)]


def hint(repo: Repo, text: str, fallback: str, paths_only: bool = False) -> str:
    """`did you mean 'X' or 'Y'?` when something is close, else `fallback`."""
    close = did_you_mean(repo, text, paths_only)
    if not close:
        return fallback
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
