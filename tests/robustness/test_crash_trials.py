"""Crash trials: `add`, `run`, `checkout`, `gc --apply`, `push` and `purge`, each SIGKILLed (with
its whole process group) at a random moment of its run, over and over in one workspace. After each
kill: `fsck --full` is clean, or `fsck --repair` makes it clean; every run whose command
returned is intact; `index rebuild` brings back no run that did not commit; and a killed
checkout left every file with its old or its new content.

`make test` runs MLVC_CRASH_TRIALS=20 (the default); `make stress` runs 200 and prints
the tally that docs/reliability.md publishes. The moments are random (seeded by
MLVC_CRASH_SEED, printed on failure), never timed assertions: a kill that lands before
the command starts or after it ends is a valid trial too, and is counted as such.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import MLVC

TRIALS = int(os.environ.get("MLVC_CRASH_TRIALS", "20"))
SEED = int(os.environ.get("MLVC_CRASH_SEED", str(random.SystemRandom().randrange(1 << 30))))
OPERATIONS = ("add", "run", "checkout", "gc", "push", "purge")


def _mlvc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLVC, *args], cwd=cwd, capture_output=True, text=True)


def _json(cwd: Path, *args: str) -> Any:
    result = _mlvc(cwd, *args, "--json")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def _runs(cwd: Path) -> set[str]:
    return {r["id"] for r in _json(cwd, "log")["runs"]}


def _digests(root: Path, names: list[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in names:
        path = root / name
        found[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return found


class Workspace:
    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.files = [f"data/f{i:02}.csv" for i in range(40)] + ["data/big.bin"]
        self.returned: set[str] = set()  # runs whose command returned: must stay intact
        self.outcomes: Counter[str] = Counter()
        self.durations: dict[str, float] = {}  # seconds the last finished one took

    def mutate(self) -> None:
        for name in self.rng.sample(self.files[:-1], 5):
            (self.root / name).write_text(f"{name},{self.rng.random()}\n")
        if self.rng.random() < 0.3:
            (self.root / "data" / "big.bin").write_bytes(self.rng.randbytes(1 << 20))

    def command(self, op: str) -> list[str]:
        if op == "add":
            self.mutate()
            return ["add", "data", "--json"]
        if op == "run":
            self.mutate()
            return ["run", "--json", "--", sys.executable, "step.py"]
        if op == "checkout":
            target = self.rng.choice(sorted(self.returned)) if self.returned else "latest"
            return ["checkout", target, "--force", "--json"]
        if op == "gc":
            return ["gc", "--apply", "--grace", "0", "--json"]
        if op == "purge":
            return self._purge_target()
        return ["push", "--json"]

    def _purge_target(self) -> list[str]:
        """`purge` of an old version of a file (never the one in the workspace, which a
        later `add` would store again); a checkout that needs it then stops, saying so."""
        from mlvc.ids import file_id
        from mlvc.lineage.resolve import resolve_path_at
        from mlvc.repo import Repo

        repo = Repo.discover(self.root)
        try:
            for _ in range(20):
                run, name = self.rng.choice(sorted(self.returned)), self.rng.choice(self.files)
                try:
                    old = resolve_path_at(repo, f"{name}@{run}").record.id
                except Exception:  # the run did not record it
                    continue
                if old != file_id((self.root / name).read_bytes()):
                    return ["purge", f"{name}@{run}", "-m", "crash trial", "--json"]
        finally:
            repo.close()
        return ["gc", "--apply", "--grace", "0", "--json"]

    def trial(self, op: str) -> None:
        args = self.command(op)
        before = _digests(self.root, [*self.files, "summary.txt"])
        target = self._target(args) if op == "checkout" else None
        started = time.monotonic()
        proc = subprocess.Popen(
            [MLVC, *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        # Somewhere inside the command: up to the last duration of the same operation.
        time.sleep(self.rng.uniform(0.0, self.durations.get(op, 1.0)))
        killed = proc.poll() is None
        if killed:
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        if not killed:
            self.durations[op] = time.monotonic() - started
            stopped_at_purged = op == "checkout" and "was purged" in err
            assert "Traceback" not in err, (op, err)
            assert proc.returncode == 0 or (proc.returncode == 1 and stopped_at_purged), (op, err)
            if op in ("add", "run") and out.strip():
                self.returned.add(json.loads(out)["run_id"])
        self.outcomes[f"{op} {'killed' if killed else 'finished'}"] += 1
        if target is not None:
            after = _digests(self.root, list(target))
            for name, digest in after.items():
                assert digest in (before.get(name), target[name]), (name, op)

    def _target(self, args: list[str]) -> dict[str, str | None]:
        """What a checkout of args[1] would leave in each of the workspace's files."""
        from mlvc.lineage.resolve import resolve_path_at, resolve_run
        from mlvc.repo import Repo

        repo = Repo.discover(self.root)
        try:
            run = resolve_run(repo, args[1])
            found: dict[str, str | None] = {}
            for name in self.files:
                try:
                    record = resolve_path_at(repo, f"{name}@{run.hex()}").record
                    data = b"".join(repo.store.iter_file(record.id))
                except Exception:  # not recorded by the run (checkout leaves it) or purged
                    continue
                found[name] = hashlib.sha256(data).hexdigest()
            return found
        finally:
            repo.close()

    def check(self) -> None:
        code = _mlvc(self.root, "fsck", "--full", "--json")
        if code.returncode != 0:
            self.outcomes["repaired"] += 1
            repaired = _mlvc(self.root, "fsck", "--repair", "--json")
            assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        listed = _runs(self.root)
        assert self.returned <= listed, self.returned - listed

    def rebuild_keeps_the_runs(self) -> None:
        before = _runs(self.root)
        _json(self.root, "index", "rebuild")
        assert _runs(self.root) == before


def test_random_kills_lose_nothing_that_returned(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "data").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "step.py").write_text(
        "import pathlib\n"
        "text = ''.join(p.read_text() for p in sorted(pathlib.Path('data').glob('*.csv')))\n"
        "pathlib.Path('summary.txt').write_text(str(len(text)))\n"
    )
    rng = random.Random(SEED)
    ws = Workspace(root, rng)
    for name in ws.files[:-1]:
        (root / name).write_text(f"{name},0\n")
    (root / "data" / "big.bin").write_bytes(rng.randbytes(1 << 20))
    assert _mlvc(root, "init").returncode == 0
    assert (
        _mlvc(root, "remote", "add", "origin", str(tmp_path / "shared"), "--default").returncode
        == 0
    )
    ws.returned.add(_json(root, "add", "data")["run_id"])
    try:
        for number in range(TRIALS):
            ws.trial(rng.choice(OPERATIONS))
            ws.check()
            if number % 5 == 4:
                ws.rebuild_keeps_the_runs()
    except AssertionError as exc:
        raise AssertionError(f"seed {SEED} (MLVC_CRASH_SEED): {exc}") from exc
    print(
        f"\ncrash trials: {TRIALS} (seed {SEED}): "
        + ", ".join(f"{k}: {v}" for k, v in sorted(ws.outcomes.items()))
    )
