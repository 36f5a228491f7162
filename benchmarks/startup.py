"""Start-up cost of `mlvc --version`, `status`, `log` and `log PATH` as instruction counts
(valgrind callgrind, whole process, forked children included): deterministic, so a
loaded machine gives the same figures as a quiet one, and versions compare exactly.

    .venv/bin/python benchmarks/startup.py --rev 82f2465 [--rev main] [--work DIR]

Each `--rev` is exported (`git archive REV mlvc`) and run beside this tree's `mlvc/`,
all with this venv's python and its packages, in one workspace: the example pipeline
after its four stages ran (made with this tree's mlvc), with nothing stale. Each tree is
`compileall`ed first (`PYTHONDONTWRITEBYTECODE` may be set). "modules" counts the
distinct names `python -X importtime` lists. Needs valgrind.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MAIN = 'import sys; from mlvc.cli import main; sys.argv[0] = "mlvc"; sys.exit(main())'
COMMANDS = (("--version",), ("status",), ("log",), ("log", "model/model.json"))
STAGES = ("prepare", "featurize", "train", "evaluate")


def _env(tree: Path, home: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "HOME": str(home)}
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return env


def _mlvc(tree: Path, home: Path, ws: Path, *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "-c", MAIN, *args], cwd=ws, env=_env(tree, home), capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    return done.stdout


def _workspace(work: Path, home: Path) -> Path:
    ws = work / "ws"
    ws.mkdir()
    env = _env(ROOT, home)
    for args in (["init", "-q"], ["config", "user.name", "b"], ["config", "user.email", "b@x"]):
        subprocess.run(["git", *args], cwd=ws, env=env, check=True)
    for item in (ROOT / "examples" / "pipeline").iterdir():
        if item.is_file():
            shutil.copy(item, ws / item.name)
    subprocess.run(["git", "add", "-A"], cwd=ws, env=env, check=True)
    subprocess.run(["git", "commit", "-qm", "pipeline"], cwd=ws, env=env, check=True)
    _mlvc(ROOT, home, ws, "init")
    subprocess.run([PYTHON, "make_raw.py"], cwd=ws, env=env, check=True)
    _mlvc(ROOT, home, ws, "add", "data/raw")
    for stage in STAGES:
        _mlvc(ROOT, home, ws, "run", "--", PYTHON, f"{stage}.py")
    time.sleep(2.5)  # past the racy window: the stat cache vouches for every file
    _mlvc(ROOT, home, ws, "status")
    return ws


def _instructions(tree: Path, home: Path, ws: Path, args: tuple[str, ...], out: Path) -> float:
    """Millions of instructions, summed over the process and its children."""
    for old in out.parent.glob(f"{out.name}.*"):
        old.unlink()
    subprocess.run(
        ["valgrind", "--tool=callgrind", "--trace-children=yes",
         f"--callgrind-out-file={out}.%p", PYTHON, "-c", MAIN, *args],
        cwd=ws, env=_env(tree, home), capture_output=True, check=True,
    )  # fmt: skip
    total = 0
    for part in out.parent.glob(f"{out.name}.*"):
        found = re.search(r"^(?:summary|totals): (\d+)", part.read_text(), re.M)
        total += int(found.group(1)) if found else 0
    return total / 1e6


def _modules(tree: Path, home: Path, ws: Path, args: tuple[str, ...]) -> int:
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", MAIN, *args], cwd=ws, env=_env(tree, home),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "imported package" not in line
    }
    return len(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", action="append", default=[], help="a git revision to compare")
    parser.add_argument("--work", type=Path, help="a scratch directory (default: a temp one)")
    opts = parser.parse_args()
    work = Path(opts.work or tempfile.mkdtemp(prefix="mlvc-startup-"))
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    trees: dict[str, Path] = {}
    for rev in opts.rev:
        tree = work / f"tree-{rev.replace('/', '_')}"
        tree.mkdir()
        archive = subprocess.run(
            ["git", "archive", rev, "mlvc"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        trees[rev] = tree
    trees["this tree"] = ROOT
    compile_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for tree in trees.values():
        subprocess.run([PYTHON, "-m", "compileall", "-q", str(tree / "mlvc")],
                       env=compile_env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    ws = _workspace(work, home)
    print("| command | " + " | ".join(trees) + " |")
    print("|---|" + "---|" * len(trees))
    for args in COMMANDS:
        cells = []
        for n, tree in enumerate(trees.values()):
            count = _instructions(tree, home, ws, args, work / f"cg-{n}")
            cells.append(f"{count:.1f} M, {_modules(tree, home, ws, args)} modules")
        print(f"| `mlvc {' '.join(args)}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
