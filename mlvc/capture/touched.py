"""Which workspace paths a run read and wrote: from the trace of its Python processes, the
before/after scans of the workspace, the writes other live runs claim, and the user's
declarations. Paths no tree can hold are noted as skipped, never recorded."""

from __future__ import annotations

import os
from typing import Any

from mlvc.capture import changes, tracer
from mlvc.capture.request import RunRequest
from mlvc.paths import is_text, storable
from mlvc.repo import Repo
from mlvc.workspace.scan import FileStat


class TouchedPaths:
    """Which workspace paths a run read and wrote, from the trace, the scans and flags."""

    def __init__(
        self,
        repo: Repo,
        request: RunRequest,
        trace: tracer.Trace,
        before: dict[str, FileStat],
        after: dict[str, FileStat],
        others: set[str],
    ) -> None:
        self.repo = repo
        self.trace = trace
        self.after = after
        self.skipped: set[str] = set()
        root = str(repo.root)
        rel, keep = self._relative, self._storable
        self.code = keep({r for p in tracer.module_files(trace) if (r := rel(p)) is not None})
        traced_writes = keep({r for p in trace.writes if (r := rel(p)) is not None})
        scanned = changes.compare(before, after)
        theirs = {r for p in others if (r := rel(p)) is not None} - traced_writes
        changed = (scanned.created | scanned.modified) - theirs
        declared_out = {repo.relpath(p, request.cwd) for p in request.outputs}
        declared_out |= {r for p in trace.declared_outputs if (r := rel(p)) is not None}
        declared_out = keep(declared_out)
        self.outputs = ((changed | (traced_writes & set(after))) | declared_out) - {""}
        self.removed = scanned.deleted - theirs
        reads = keep({r for p in trace.reads if (r := rel(p)) is not None})
        reads = {r for r in reads if r in before} - self.code
        declared_in = {repo.relpath(p, request.cwd) for p in request.inputs}
        declared_in |= {r for p in trace.declared_inputs if (r := rel(p)) is not None}
        declared_in = keep(declared_in)
        self.inputs = (reads | declared_in) - {""}
        self.params_files = [repo.relpath(p, request.cwd) for p in request.params_files]
        self.metrics_files = [repo.relpath(p, request.cwd) for p in request.metrics_files]
        self._declared_dirs = {p for p in declared_out if os.path.isdir(repo.abspath(p))}
        external = {p for p in trace.reads if not p.startswith(root + os.sep)}
        self._external_reads = {p for p in external if is_text(p)}
        self.skipped |= external - self._external_reads

    def _storable(self, paths: set[str]) -> set[str]:
        """`paths` a tree can hold (or the root, ""); the others are noted in `skipped`,
        never recorded."""
        kept = {p for p in paths if not p or storable(p)}
        self.skipped |= paths - kept
        return kept

    def _relative(self, path: str) -> str | None:
        root = str(self.repo.root)
        if path == root:
            return ""
        if not path.startswith(root + os.sep):
            return None
        rel = path[len(root) + 1 :].replace(os.sep, "/")
        if rel.split("/")[0] in (".mlvc", ".git"):
            return None
        return rel

    def output_roots(self) -> set[str]:
        files = {p for p in self.outputs if p in self.after}
        owned = changes.owned_directories(files, self.after) | self._declared_dirs
        roots = {p for p in files if not any(p.startswith(d + "/") for d in owned)}
        return roots | owned

    def input_roots(self) -> set[str]:
        return self.inputs

    def external(self) -> dict[str, Any]:
        return tracer.external_inputs(self._external_reads, self.trace)
