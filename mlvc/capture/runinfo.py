"""The descriptive sections of a run: code, params, metrics, environment, resources, owner,
logs, gathered from the capture modules around one execution."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlvc import codec, params, secrets
from mlvc.capture import environment, resources
from mlvc.capture.code import read_head, secret_values
from mlvc.capture.owner import owner
from mlvc.capture.process import Finished
from mlvc.capture.tracer import Trace
from mlvc.objects import PathRecord
from mlvc.repo import Repo
from mlvc.workspace.intake import Intake

if TYPE_CHECKING:
    from mlvc.capture.request import RunRequest
    from mlvc.capture.touched import TouchedPaths
    from mlvc.git import StartedGit


class RunCapture:
    def __init__(self, repo: Repo, env: Mapping[str, str]) -> None:
        self.repo = repo
        self.env = env
        self.rules = secrets.patterns(*repo.config.secrets)
        self.sections: dict[str, dict[str, Any]] = {}
        self.withheld: set[str] = set()  # inputs holding secrets: fingerprinted, not stored
        self.echoed: set[str] = set()  # their secret values, scrubbed from the logs
        self.machine: dict[str, Any] | None = None  # see describe_machine

    def describe_machine(self, identity: StartedGit | None = None) -> None:
        """Take what no command changes: the platform, the environment variables, CUDA,
        the machine and the owner (`identity`: its git call, if started). `mlvc run`
        takes them on a thread while the command runs; `capture_after` takes them if
        nobody did."""
        self.machine = {
            "platform": environment.platform_info(self.env),
            "variables": environment.environment_variables(self.env),
            "cuda": environment.cuda_info(),
            "resources": resources.machine(),
            "owner": owner(self.env, self.repo.root, identity),
        }

    def withhold(self, inputs: set[str]) -> set[str]:
        """The inputs to leave out because they hold secrets (see code.holds_secrets);
        their secret values are scrubbed from the logs too (`capture_after`)."""
        for rel in inputs:
            if values := secret_values(self.repo, self.rules, rel):
                self.withheld.add(rel)
                self.echoed.update(values)
        return self.withheld

    def capture_after(
        self,
        trace: Trace,
        finished: Finished,
        logs: tuple[Path, Path],
        paths: TouchedPaths,
        snap: Intake,
    ) -> None:
        store = self.repo.store
        for log in logs:
            _scrub(log, self.echoed)
        out_id, out_size = store.put_file(logs[0])
        err_id, err_size = store.put_file(logs[1])
        self.sections["logs"] = {
            "stdout": out_id,
            "stdout_bytes": out_size,
            "stderr": err_id,
            "stderr_bytes": err_size,
        }
        scripts = {
            rel: snap.file_id(paths.after[rel]) for rel in sorted(paths.code) if rel in paths.after
        }
        self.sections["code"]["scripts"] = scripts
        if self.machine is None:
            self.describe_machine()
        assert self.machine is not None
        self.sections["environment"] = self._environment(trace, self.machine)
        self.sections["environment"]["capture"] = paths.capture
        found = secret_files(self.repo, self.rules, trace)
        for rel in self.withheld:
            if fp := secrets.fingerprint(self.repo.dir, self.repo.abspath(rel)):
                found[rel] = {"fingerprint": fp, "role": "read"}
        if found:
            self.sections["environment"]["secret_files"] = found
        self.sections["resources"] = {
            **self.machine["resources"],
            **resources.usage(finished.wall_seconds, finished.rusage),
        }
        self.sections["owner"] = self.machine["owner"]

    def _environment(self, trace: Trace, machine: dict[str, Any]) -> dict[str, Any]:
        env: dict[str, Any] = {
            "platform": machine["platform"],
            "variables": machine["variables"],
            "processes": trace.processes,
        }
        python = _main_python(trace)
        if python is not None:
            path = [p for p in python.get("path", []) if isinstance(p, str)]
            modules = sorted({m.split(".")[0] for m in python.get("modules", {})})
            dists, mapping = _installed(self.repo, path)
            env["python"] = environment.python_info(
                str(python.get("executable")),
                str(python.get("version")),
                str(python.get("implementation")),
                str(python.get("prefix")),
            )
            env["modules"] = environment.pick_modules(modules, mapping)
            env["distributions"] = self.repo.store.put_bytes(codec.encode(dists))
            env["distribution_count"] = len(dists)
        cuda = machine["cuda"]
        if cuda:
            env["cuda"] = cuda
        return env


def _scrub(log: Path, values: set[str]) -> None:
    """Replace the secret values of the configs a run read in its log file (the values
    of its environment and argv were scrubbed as the output came)."""
    known = sorted(v for v in values if len(v) >= secrets.MIN_SECRET_LENGTH)
    if not known:
        return
    scrub = secrets.Scrubber(known)
    cleaned = log.with_name(log.name + ".scrubbed")
    with open(log, "rb") as source, open(cleaned, "wb") as sink:
        while data := source.read(1 << 20):
            sink.write(scrub.feed(data))
        sink.write(scrub.finish())
    os.replace(cleaned, log)


def secret_files(repo: Repo, rules: secrets.Patterns, trace: Trace) -> dict[str, Any]:
    """The credential files in the workspace the traced processes read or wrote: path ->
    keyed fingerprint and role, never their bytes (see docs/security.md)."""
    root = str(repo.root) + os.sep
    found: dict[str, Any] = {}
    written = trace.writes | trace.declared_outputs
    for path in sorted(trace.reads | trace.declared_inputs | written):
        rel = path[len(root) :].replace(os.sep, "/") if path.startswith(root) else None
        if rel is None or rel.split("/")[0] in (".mlvc", ".git") or not rules.is_secret_file(rel):
            continue
        if os.path.isfile(path) and (fp := secrets.fingerprint(repo.dir, Path(path))):
            found[rel] = {"fingerprint": fp, "role": "written" if path in written else "read"}
    return found


def _installed(repo: Repo, path: list[str]) -> tuple[list[list[str]], dict[str, str]]:
    """The distributions on `path` and the modules they provide, cached between runs in
    `.mlvc/tmp/`: reading every distribution's metadata is most of a short run's
    overhead. The key includes each path directory's mtime, which changes whenever a
    package is installed or removed there."""
    import blake3
    import msgpack

    stamps = []
    root = str(repo.root)
    for entry in path:
        if entry == root or entry.startswith(root + os.sep):
            continue  # the workspace changes with every run; its packages do not count
        try:
            stamps.append([entry, os.stat(entry).st_mtime_ns])
        except OSError:
            stamps.append([entry, None])
    key = blake3.blake3(codec.encode(stamps)).hexdigest()[:24]
    cache = repo.dir / "tmp" / f"installed-{key}.msgpack"
    try:
        dists, mapping = msgpack.unpackb(cache.read_bytes(), raw=False)
        return dists, mapping
    except (OSError, ValueError, TypeError, msgpack.UnpackException):
        pass
    dists = environment.distributions(path)
    mapping = environment.module_map(path)
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(msgpack.packb([dists, mapping], use_bin_type=True))
        os.replace(tmp, cache)
    except OSError:
        tmp.unlink(missing_ok=True)
    return dists, mapping


def _main_python(trace: Trace) -> dict[str, Any] | None:
    """The interpreter that started first: the command itself, not one it spawned."""
    if not trace.pythons:
        return None
    return min(trace.pythons, key=lambda p: p.get("started") or float("inf"))


def describe(
    facts: RunCapture, request: RunRequest, paths: TouchedPaths, outputs: dict[str, PathRecord]
) -> dict[str, Any]:
    sections = facts.sections
    return {
        "code": sections.get("code", {}),
        "params": _params(facts, request, paths),
        "metrics": _metrics(facts.repo, paths, facts),
        "environment": sections.get("environment", {}),
        "resources": sections.get("resources", {"host": platform.node()}),
        "owner": sections.get("owner", {}),
        "logs": sections.get("logs", {}),
    }


def _merge(into: dict[str, Any], found: dict[str, Any], source: str) -> None:
    """Flat keys; a key two sources both set is kept apart as `source:key`."""
    for key, value in found.items():
        if key in into and into[key] != value:
            into[f"{source}:{key}"] = value
        else:
            into[key] = value


def _params(facts: RunCapture, request: RunRequest, paths: TouchedPaths) -> dict[str, Any]:
    """Params of the config inputs, `-p` files, argv and API, secret values redacted.
    The command line's overrides replace the config files' values of their keys."""
    found: dict[str, Any] = {}
    repo, rules = facts.repo, facts.rules
    argv = secrets.redact_argv(request.argv, rules).argv
    line = params.argv_params(argv)
    chosen = params.ParamsFiles(*repo.config.params)
    candidates = {p for p in paths.inputs | facts.withheld if chosen.chosen(p)}
    candidates |= set(paths.params_files)
    for rel in sorted(candidates):
        if rules.is_secret_file(rel):
            continue  # a credentials file's keys are not params either
        if os.path.isfile(repo.abspath(rel)) and (data := read_head(repo, rel)) is not None:
            config = params.config_params(rel, data)
            if config:
                _merge(found, line.override(config), rel)
    found.update(line.overrides)
    _merge(found, {f"args.{k}": v for k, v in line.options.items()}, "argv")
    _merge(found, paths.trace.params, "api")
    return secrets.redact_params(found, rules)


def _metrics(repo: Repo, paths: TouchedPaths, facts: RunCapture) -> dict[str, Any]:
    found: dict[str, Any] = {}
    candidates = [p for p in paths.outputs if params.is_metrics_file(p)]
    for rel in sorted(set(candidates) | set(paths.metrics_files)):
        if facts.rules.is_secret_file(rel):
            continue
        if (data := read_head(repo, rel)) is not None:
            _merge(found, params.metrics_from(rel, data), rel)
    series = {}
    for key, points in paths.trace.metrics.items():
        ordered = sorted(points, key=lambda p: (p[0] is None, p[0] if p[0] is not None else 0))
        _merge(found, {key: ordered[-1][1]}, "api")
        if len(points) > 1:
            series[key] = facts.repo.store.put_bytes(codec.encode(ordered))
    if series:
        facts.sections.setdefault("logs", {})["metric_series"] = series
    return found
