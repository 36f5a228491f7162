"""A synthetic mlvc lineage history for the lineage-query benchmark, built in-process.

200 independent chains of 50 runs each (10,000 runs). Chain ``c`` owns the five paths
``data/cCCC/p0.bin`` .. ``p4.bin`` (1,000 paths in all); run ``k`` of a chain writes
``p{k % 5}.bin`` (64 seeded random bytes) and, for ``k >= 1``, reads what run ``k - 1``
wrote, so the last run of a chain (it writes ``p4.bin``) has 50 levels of provenance
below it and each path has 10 versions. The chains advance in step (run ``k`` of every
chain, then run ``k + 1``), as concurrent pipelines would, with increasing timestamps.

Recording mirrors ``mlvc.recorder.record`` but batched: every object goes into one store
session (one ``store.commit()``), then one index transaction adds the runs in order
(``Index.add_run_rows``: their rows, path versions, input edges and run-table facts),
the tracked paths (the latest version of each) and stat-cache rows for the files
written to the workspace. ``record`` per run would fsync
10,000 times.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlvc.ids import ObjectId
    from mlvc.objects import Run

CHAINS = 200
DEPTH = 50
PATHS_PER_CHAIN = 5
CONTENT_BYTES = 64
SEED = 20_240_602
EPOCH = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)
OWNER = "bench"


def chain_path(chain: int, slot: int) -> str:
    """Workspace path ``data/cCCC/pK.bin`` of slot ``slot`` of chain ``chain``."""
    return f"data/c{chain:03d}/p{slot}.bin"


def output_of(chain: int, step: int) -> str:
    """The path run ``step`` of ``chain`` writes."""
    return chain_path(chain, step % PATHS_PER_CHAIN)


def stamp(moment: datetime) -> str:
    """UTC ISO-8601 with microseconds and ``Z``, as ``mlvc.clock.now()`` writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class History:
    """A generated history: its workspace and the ids the scenarios need."""

    root: Path
    runs: int
    paths: int
    seconds: float  # wall-clock time of the whole generation, `Repo.init` included
    chain_runs: dict[int, list[str]] = field(default_factory=dict)
    """Hex run ids of the chains kept (chain 0), in step order."""

    def run_id(self, chain: int, step: int) -> str:
        return self.chain_runs[chain][step]


@dataclass(frozen=True)
class _Version:
    """One written file version: what the index rows need."""

    path: str
    oid: ObjectId
    size: int
    run: ObjectId


def _params(rng: random.Random, chain: int, step: int) -> dict[str, Any]:
    lr = 3e-3 * 0.9**step * rng.uniform(0.9, 1.1)
    return {"lr": round(lr, 8), "seed": chain}


def _metrics(rng: random.Random, step: int) -> dict[str, Any]:
    loss = 2.3 * 0.95**step + rng.uniform(0.0, 0.05)
    acc = min(0.999, 0.1 + 0.85 * (1 - 0.93**step) + rng.uniform(-0.01, 0.01))
    return {"loss": round(loss, 6), "acc": round(acc, 6)}


def build(root: Path, keep_chains: tuple[int, ...] = (0,), chains: int = CHAINS) -> History:
    """Create an mlvc repository at ``root`` (which must not hold one) with the synthetic
    history of ``chains`` chains of ``DEPTH`` runs (the scale benchmark asks for 2,000:
    100,000 runs); return it with the run ids of ``keep_chains``. Needs mlvc importable."""
    from mlvc.ids import Kind
    from mlvc.objects import PathRecord, Run
    from mlvc.repo import Repo
    from mlvc.store.index import StatRow, TrackedFile

    start = time.perf_counter()
    rng = random.Random(SEED)
    repo = Repo.init(root)
    try:
        store, index = repo.store, repo.index
        clock = EPOCH
        ordered: list[tuple[ObjectId, Run]] = []
        latest: dict[str, _Version] = {}
        previous: dict[int, _Version] = {}
        kept: dict[int, list[str]] = {c: [] for c in keep_chains}
        contents: dict[str, bytes] = {}
        try:
            for step in range(DEPTH):
                for chain in range(chains):
                    started = clock + timedelta(microseconds=rng.randrange(1_000_000))
                    ended = started + timedelta(seconds=rng.uniform(5, 60))
                    clock += timedelta(seconds=3)
                    data = rng.randbytes(CONTENT_BYTES)
                    oid = store.put_bytes(data)
                    out_path = output_of(chain, step)
                    parent = previous.get(chain)
                    inputs = {}
                    if parent is not None:
                        inputs[parent.path] = PathRecord(
                            parent.oid, "file", parent.size, parent.run
                        )
                    run = Run(
                        kind="run",
                        started=stamp(started),
                        ended=stamp(ended),
                        status="ok",
                        command=("python", "train.py", "--step", str(step)),
                        exit_code=0,
                        inputs=inputs,
                        outputs={out_path: PathRecord(oid, "file", len(data))},
                        params=_params(rng, chain, step),
                        metrics=_metrics(rng, step),
                        owner={"user": OWNER},
                        code={"git": False},
                    )
                    run_id = store.put_object(Kind.RUN, run.encode())
                    version = _Version(out_path, oid, len(data), run_id)
                    ordered.append((run_id, run))
                    previous[chain] = latest[out_path] = version
                    contents[out_path] = data
                    if chain in kept:
                        kept[chain].append(run_id.hex())
            store.commit()
        except BaseException:
            store.abort()
            raise

        # The workspace holds the last version of every path, as after the real runs.
        for rel, data in contents.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        hashed_ns = time.time_ns()
        stat_rows = []
        for rel, version in latest.items():
            st = os.lstat(root / rel)
            row = StatRow(
                st.st_size, st.st_mtime_ns, st.st_ino, version.oid, hashed_ns, st.st_ctime_ns
            )
            stat_rows.append((rel, row))

        index.begin()
        try:
            for run_id, run in ordered:  # its row, path version, input edge and facts
                index.add_run_rows(run_id, run, {})
            for rel, version in latest.items():
                tracked = TrackedFile(rel, rel, version.oid, "file", version.size)
                index.replace_tracked(rel, [tracked])
            index.put_stat_rows(stat_rows)
            index.commit()
        except BaseException:
            index.rollback()
            raise
    finally:
        repo.close()
    return History(
        root=root,
        runs=len(ordered),
        paths=len(latest),
        seconds=time.perf_counter() - start,
        chain_runs=kept,
    )
