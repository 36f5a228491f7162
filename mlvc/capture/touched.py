"""Which workspace paths a run read and wrote: from the trace of its Python processes, what
the capture mode saw (inotify or strace), the before/after scans of the workspace, the
writes other live runs claim, and the user's declarations. Paths no tree can hold are
noted as skipped, never recorded."""

from __future__ import annotations

import os
from typing import Any

from mlvc.capture import changes, programs, tracer
from mlvc.capture.inotify import Seen
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
        seen: Seen | None = None,
    ) -> None:
        self.repo = repo
        self.trace = trace
        self.after = after
        self.seen = seen = seen or Seen("python")
        self.capture: dict[str, Any] = {"mode": seen.mode, "overlapped": False, "notes": []}
        self.skipped: set[str] = set()
        root = str(repo.root)
        rel, keep = self._relative, self._storable
        argvs = [request.argv, *programs.traced_argvs(trace.execs), *seen.execs]
        self.argvs = argvs
        code = tracer.module_files(trace) | programs.scripts(argvs, str(request.cwd))
        self.code = keep({r for p in code if (r := rel(p)) is not None})
        traced_writes = keep({r for p in trace.writes if (r := rel(p)) is not None})
        scanned = changes.compare(before, after)
        theirs = {r for p in others if (r := rel(p)) is not None} - traced_writes
        if seen.mode == "strict":  # opened for writing by one of our processes: ours too
            theirs -= {r for p in seen.writes if (r := rel(p)) is not None}
        changed = (scanned.created | scanned.modified) - theirs
        declared_out = {repo.relpath(p, request.cwd) for p in request.outputs}
        declared_out |= {r for p in trace.declared_outputs if (r := rel(p)) is not None}
        declared_out = keep(declared_out)
        self.outputs = ((changed | (traced_writes & set(after))) | declared_out) - {""}
        self.removed = scanned.deleted - theirs
        all_reads = trace.reads | seen.reads
        reads = keep({r for p in all_reads if (r := rel(p)) is not None})
        reads = {r for r in reads if r in before or _through_link(r, before)} - self.code
        declared_in = {repo.relpath(p, request.cwd) for p in request.inputs}
        declared_in |= {r for p in trace.declared_inputs if (r := rel(p)) is not None}
        declared_in = keep(declared_in)
        self.inputs = (reads | declared_in) - {""}
        self.params_files = [repo.relpath(p, request.cwd) for p in request.params_files]
        self.metrics_files = [repo.relpath(p, request.cwd) for p in request.metrics_files]
        self._declared_dirs = {p for p in declared_out if os.path.isdir(repo.abspath(p))}
        external = {p for p in all_reads if not p.startswith(root + os.sep)}
        self._external_reads = {p for p in external if is_text(p)}
        self.skipped |= external - self._external_reads

    def note_capture(self, overlapped: bool) -> None:
        """Say in `capture` which mode saw the run's reads, and what it could not see."""
        from mlvc.capture.observer import unseen_note

        notes = list(self.seen.notes)
        pythons = frozenset(
            os.path.basename(argv[0])
            for info in self.trace.pythons
            if isinstance(argv := info.get("argv"), list) and argv and isinstance(argv[0], str)
        )
        if (note := unseen_note(self.seen, self.argvs, pythons)) is not None:
            notes.append(note)
        if overlapped and self.seen.mode == "inotify":
            notes.append(
                "another run was live in this workspace: its reads of workspace files may"
                " be recorded as this run's (use --trace=strict to attribute by process)"
            )
        self.capture = {"mode": self.seen.mode, "overlapped": overlapped, "notes": notes}

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


def _through_link(rel: str, before: dict[str, FileStat]) -> bool:
    """Whether `rel` is a file reached through a symlink to a directory that the
    workspace held before the run (the scan lists the link, not what it leads to)."""
    parts = rel.split("/")
    for i in range(1, len(parts)):
        st = before.get("/".join(parts[:i]))
        if st is not None:
            return st.kind == "symlink"
    return False
