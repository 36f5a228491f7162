"""What `mlvc run` records as read and written by programs and libraries that Python's own
`open` never sees: shell tools, C/C++ readers, static binaries, process trees. Each case
runs the real `mlvc` under the default mode (inotify) and the strict mode (strace)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import MLVC, Run, init_store, show_here

PYTHON = sys.executable
MODES = [
    "auto",
    pytest.param(
        "strict", marks=pytest.mark.skipif(not shutil.which("strace"), reason="no strace")
    ),
]


@pytest.fixture
def ws(workspace: Path) -> Path:
    return init_store(workspace)


def _run(ws: Path, mlvc: Run, mode: str, *argv: str) -> dict:
    """Run `argv` under `mode` ("auto": as by default) in `ws`; the run as `show --json`
    gives it."""
    trace = [] if mode == "auto" else [f"--trace={mode}"]
    result = mlvc("run", *trace, "--json", "--", *argv)
    return show_here(ws, json.loads(result.stdout)["run_id"])


def _paths(run: dict) -> tuple[set[str], set[str]]:
    return set(run["inputs"]), set(run["outputs"])


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("script", "inputs", "outputs"),
    [
        ("cat a.txt > copy.txt", {"a.txt"}, {"copy.txt"}),
        ("sort b.csv > sorted.csv", {"b.csv"}, {"sorted.csv"}),
        ("cp a.txt old.txt", {"a.txt"}, {"old.txt"}),  # old.txt existed: written, never read
        ("awk -F, '{print $2}' b.csv > col.txt", {"b.csv"}, {"col.txt"}),
        ("cat a.txt >> old.txt", {"a.txt"}, {"old.txt"}),  # appended to, not read
        (
            "cat b.csv | sort -r | uniq < a.txt > piped.txt 2> err.txt; sort < a.txt >> log.txt",
            {"a.txt", "b.csv"},
            {"piped.txt", "err.txt", "log.txt"},
        ),
        ("sed -i s/x/y/ a.txt", {"a.txt"}, {"a.txt"}),  # read and rewritten
    ],
    ids=["cat", "sort", "cp", "awk", "append", "pipeline", "sed-i"],
)
def test_shell_tools(
    ws: Path, mlvc: Run, mode: str, script: str, inputs: set[str], outputs: set[str]
) -> None:
    _write(ws / "a.txt", "x\ny\n")
    _write(ws / "b.csv", "k,2\nj,1\n")
    _write(ws / "old.txt", "old\n")
    _write(ws / "unread.txt", "nobody reads this\n")
    run = _run(ws, mlvc, mode, "sh", "-c", script)
    found_in, found_out = _paths(run)
    assert found_out == outputs
    # an input also rewritten is recorded only at a version mlvc knows (the stat cache)
    assert found_in == inputs - outputs or found_in == inputs
    assert run["environment"]["capture"]["mode"] == ("strict" if mode == "strict" else "inotify")


@pytest.mark.parametrize("mode", MODES)
def test_parquet_read_and_written_by_pyarrow(ws: Path, mlvc: Run, mode: str) -> None:
    pytest.importorskip("pyarrow")
    _write(
        ws / "make.py", "import pandas as pd\npd.DataFrame({'a': [1, 2]}).to_parquet('raw.pq')\n"
    )
    subprocess.run([PYTHON, "make.py"], cwd=ws, check=True)
    _write(
        ws / "step.py",
        "import pandas as pd\ndf = pd.read_parquet('raw.pq')\n(df * 2).to_parquet('doubled.pq')\n",
    )
    run = _run(ws, mlvc, mode, PYTHON, "step.py")
    assert _paths(run) == ({"raw.pq"}, {"doubled.pq"})
    assert set(run["code"]["scripts"]) == {"step.py"}


@pytest.mark.parametrize("mode", MODES)
def test_sqlite_select_is_a_read_not_a_write(ws: Path, mlvc: Run, mode: str) -> None:
    import sqlite3

    with sqlite3.connect(ws / "db.sqlite") as db:
        db.execute("create table t (x)")
        db.execute("insert into t values (42)")
    db.close()
    code = (
        "import sqlite3\nprint(sqlite3.connect('db.sqlite').execute('select x from t').fetchall())"
    )
    _write(ws / "query.py", code)
    run = _run(ws, mlvc, mode, PYTHON, "query.py")
    assert _paths(run) == ({"db.sqlite"}, set())


@pytest.mark.parametrize("mode", MODES)
def test_numpy_load(ws: Path, mlvc: Run, mode: str) -> None:
    np = pytest.importorskip("numpy")
    np.save(ws / "x.npy", np.arange(5))
    np.save(ws / "y.npy", np.arange(3))
    _write(
        ws / "load.py",
        "import numpy as np\nnp.save('z.npy', np.load('x.npy', mmap_mode='r') * 2)\n",
    )
    run = _run(ws, mlvc, mode, PYTHON, "load.py")
    assert _paths(run) == ({"x.npy"}, {"z.npy"})


def _static_binary(tmp_path: Path) -> Path:
    """A statically linked program (no libc calls a preload shim could see) that copies
    argv[1] to argv[2] with raw syscalls."""
    if not shutil.which("gcc") or not Path("/usr/lib/x86_64-linux-gnu/libc.a").exists():
        pytest.skip("needs gcc and a static libc")
    source = _write(
        tmp_path / "copy.c",
        textwrap.dedent(
            """
            #include <fcntl.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                char buf[4096]; ssize_t n;
                int in = open(argv[1], O_RDONLY);
                int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
                while ((n = read(in, buf, sizeof buf)) > 0) write(out, buf, n);
                return 0;
            }
            """
        ),
    )
    binary = tmp_path / "static-copy"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(binary), str(source)], check=True)
    return binary


@pytest.mark.parametrize("mode", MODES)
def test_statically_linked_binary(ws: Path, mlvc: Run, tmp_path: Path, mode: str) -> None:
    binary = _static_binary(tmp_path)
    _write(ws / "in.bin", "payload")
    run = _run(ws, mlvc, mode, str(binary), "in.bin", "out.bin")
    assert _paths(run) == ({"in.bin"}, {"out.bin"})


@pytest.mark.parametrize("mode", MODES)
def test_multiprocessing_pool_reading_from_c(ws: Path, mlvc: Run, mode: str) -> None:
    for i in range(4):
        _write(ws / "shards" / f"{i}.txt", f"shard {i}\n")
    _write(ws / "shards" / "unread.txt", "-")
    _write(
        ws / "pool.py",
        textwrap.dedent(
            """
            import ctypes, multiprocessing

            def size(i):  # read from C, as an extension would: no Python open event
                libc = ctypes.CDLL(None, use_errno=True)
                fd = libc.open(f"shards/{i}.txt".encode(), 0)
                buf = ctypes.create_string_buffer(64)
                n = libc.read(fd, buf, 64)
                libc.close(fd)
                return n

            if __name__ == "__main__":
                with multiprocessing.Pool(2) as pool:
                    sizes = pool.map(size, range(4))
                open("sizes.txt", "w").write(str(sizes))
            """
        ),
    )
    run = _run(ws, mlvc, mode, PYTHON, "pool.py")
    assert _paths(run) == ({f"shards/{i}.txt" for i in range(4)}, {"sizes.txt"})


@pytest.mark.parametrize("mode", MODES)
def test_grandchild_that_outlives_its_parent(ws: Path, mlvc: Run, mode: str) -> None:
    """The grandchild reads once its parent has exited; it still holds the run's stdout,
    so the run lasts until it is done and its read is recorded."""
    _write(ws / "late.txt", "read by the grandchild\n")
    _write(
        ws / "spawn.py",
        textwrap.dedent(
            """
            import os, sys, time
            parent = os.getpid()  # taken before the fork: the parent may be gone at once
            if os.fork() == 0:
                while os.getppid() == parent:  # until the parent has exited
                    time.sleep(0.01)
                os.execvp("cat", ["cat", "late.txt"])
            sys.exit(0)
            """
        ),
    )
    run = _run(ws, mlvc, mode, PYTHON, "spawn.py")
    assert _paths(run) == ({"late.txt"}, set())


@pytest.mark.parametrize("mode", MODES)
def test_read_through_a_symlinked_directory_keeps_its_workspace_path(
    ws: Path, mlvc: Run, tmp_path: Path, mode: str
) -> None:
    _write(tmp_path / "shared" / "raw.csv", "a,b\n")
    (ws / "data").symlink_to(tmp_path / "shared")
    run = _run(ws, mlvc, mode, "sh", "-c", "cat data/raw.csv > out.csv")
    assert _paths(run) == ({"data/raw.csv"}, {"out.csv"})


@pytest.mark.parametrize("mode", MODES)
def test_interpreter_scripts_are_code_not_inputs(ws: Path, mlvc: Run, mode: str) -> None:
    _write(ws / "in.txt", "z\na\n")
    _write(ws / "steps" / "sort.sh", "sort in.txt > out.txt\n")
    _write(ws / "count.js", "require('fs').writeFileSync('n.txt', '1')\n")
    for argv in (["sh", "steps/sort.sh"], ["bash", "-e", "steps/sort.sh"]):
        run = _run(ws, mlvc, mode, *argv)
        assert set(run["code"]["scripts"]) == {"steps/sort.sh"}
        assert _paths(run) == ({"in.txt"}, {"out.txt"})
    if shutil.which("node"):
        run = _run(ws, mlvc, mode, "node", "count.js")
        assert set(run["code"]["scripts"]) == {"count.js"}
        assert _paths(run) == (set(), {"n.txt"})


def test_ignored_and_cache_paths_stay_out(ws: Path, mlvc: Run) -> None:
    _write(ws / "a.txt", "a")
    _write(ws / ".venv" / "pyvenv.cfg", "home = /usr\n")
    _write(ws / "__pycache__" / "x.txt", "cached")
    _write(ws / ".mlvcignore", "scratch/\n")
    _write(ws / "scratch" / "tmp.txt", "ignored")
    script = "cat a.txt .venv/pyvenv.cfg __pycache__/x.txt scratch/tmp.txt .mlvcignore > /dev/null"
    run = _run(ws, mlvc, "auto", "sh", "-c", script)
    assert _paths(run) == ({"a.txt", ".mlvcignore"}, set())


def test_python_mode_warns_that_reads_by_other_programs_were_not_seen(ws: Path, mlvc: Run) -> None:
    _write(ws / "in.csv", "b\na\n")
    result = mlvc("run", "--trace=python", "--", "bash", "-c", "sort in.csv > out.csv")
    assert "warning: reads by `bash`, `sort` were not seen; declare them with -i" in result.stderr
    run = show_here(ws, "latest")
    capture = run["environment"]["capture"]
    assert capture["mode"] == "python" and capture["notes"] == [
        "reads by `bash`, `sort` were not seen; declare them with -i"
    ]
    assert _paths(run) == (set(), {"out.csv"})
    assert "capture python" in mlvc("show", "latest").stdout


def test_the_config_names_the_default_mode(ws: Path, mlvc: Run) -> None:
    config = ws / ".mlvc" / "config.toml"
    config.write_text(config.read_text() + '\n[run]\ntrace = "python"\n')
    _write(ws / "in.csv", "b\na\n")
    run = _run(ws, mlvc, "auto", "sort", "in.csv")
    assert run["environment"]["capture"]["mode"] == "python"
    config.write_text(config.read_text().replace('"python"', '"sometimes"'))
    result = mlvc("run", "--", "true", check=False)
    assert result.returncode == 1 and "run.trace" in result.stderr and "strict" in result.stderr


def test_strict_without_strace_says_how_to_get_it(ws: Path, mlvc: Run, tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("git", "true"):
        (bare / tool).symlink_to(shutil.which(tool) or tool)
    result = mlvc("run", "--trace=strict", "--", "true", check=False, env={"PATH": str(bare)})
    assert result.returncode == 1
    assert "error: cannot trace strictly: strace is not installed" in result.stderr
    assert "apt-get install strace" in result.stderr and "--trace=auto" in result.stderr


def test_unknown_mode_is_refused(ws: Path, mlvc: Run) -> None:
    result = mlvc("run", "--trace=everything", "--", "true", check=False)
    assert result.returncode == 1 and "unknown capture mode 'everything'" in result.stderr


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare")
@pytest.mark.parametrize("limit", [0, 3])
def test_watch_limit_falls_back_and_says_so(ws: Path, mlvc: Run, limit: int) -> None:
    """In a user namespace of its own the limit can be lowered without touching the
    machine's: none at all, or three watches for a workspace of five directories."""
    probe = subprocess.run(["unshare", "-Ur", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("user namespaces are not available")
    for d in ("a", "b", "c", "d"):
        _write(ws / d / "f.txt", d)
    limited = f"echo {limit} > /proc/sys/user/max_inotify_watches && exec {MLVC}"
    script = f"{limited} run --json -- sh -c 'cat a/f.txt > out.txt'"
    result = subprocess.run(
        ["unshare", "-Ur", "sh", "-c", script], cwd=ws, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    warning = json.loads(result.stdout)["warnings"]
    assert f"per-user limit ({limit}, /proc/sys/fs/inotify/max_user_watches)" in warning[0]
    assert "only Python reads were seen" in warning[0] and "--trace=strict" in warning[0]
    assert warning[1:] == ["reads by `sh`, `cat` were not seen; declare them with -i"]
    run = show_here(ws, "latest")
    assert run["environment"]["capture"]["mode"] == "python"
    assert run["environment"]["capture"]["notes"] == warning
    assert _paths(run) == (set(), {"out.txt"})


def test_overlapping_runs_say_so(ws: Path, mlvc: Run, tmp_path: Path) -> None:
    """Run A waits (on files, not time) until run B, started while A runs, has ended."""
    _write(ws / "in.txt", "x")
    _write(
        ws / "wait.py",
        textwrap.dedent(
            f"""
            import os, time
            open({str(tmp_path / "a-started")!r}, 'w').close()
            while not os.path.exists({str(tmp_path / "b-done")!r}):
                time.sleep(0.01)
            """
        ),
    )
    a = subprocess.Popen(
        [MLVC, "run", "--json", "--", PYTHON, "wait.py"], cwd=ws, stdout=subprocess.PIPE, text=True
    )
    try:
        while not (tmp_path / "a-started").exists():
            assert a.poll() is None, "run A ended early"
            os.sched_yield()
        b = _run(ws, mlvc, "auto", "cat", "in.txt")
    finally:
        (tmp_path / "b-done").touch()
        out, _ = a.communicate()
    assert b["environment"]["capture"]["overlapped"] is True
    assert any("another run was live" in n for n in b["environment"]["capture"]["notes"])
    a_run = show_here(ws, json.loads(out)["run_id"])
    assert a_run["environment"]["capture"]["overlapped"] is True
    alone = _run(ws, mlvc, "auto", "cat", "in.txt")
    assert alone["environment"]["capture"] == {"mode": "inotify", "overlapped": False, "notes": []}


@pytest.mark.parametrize("mode", MODES)
def test_names_with_quotes_spaces_and_non_ascii(ws: Path, mlvc: Run, mode: str) -> None:
    name = 'we"ird é name>.txt'  # a backslash is a name mlvc cannot store
    _write(ws / "d ir" / name, "x")
    run = _run(ws, mlvc, mode, "cp", f"d ir/{name}", "copy.txt")
    assert _paths(run) == ({f"d ir/{name}"}, {"copy.txt"})


@pytest.mark.parametrize("mode", MODES)
def test_reads_in_a_directory_created_during_the_run_are_outputs_only(
    ws: Path, mlvc: Run, mode: str
) -> None:
    _write(ws / "a.txt", "a")
    script = "mkdir -p new/deep && cp a.txt new/deep/b.txt && cat new/deep/b.txt > c.txt"
    run = _run(ws, mlvc, mode, "sh", "-c", script)
    assert _paths(run) == ({"a.txt"}, {"new", "c.txt"})


@pytest.mark.skipif(not shutil.which("strace"), reason="no strace")
def test_strict_lists_reads_outside_the_workspace_but_not_tool_state(
    ws: Path, mlvc: Run, tmp_path: Path
) -> None:
    outside = _write(tmp_path / "shared" / "lookup.csv", "k,v\n")
    hidden = _write(tmp_path / ".cache" / "state.txt", "tool state\n")
    run = _run(ws, mlvc, "strict", "sh", "-c", f"cat {outside} {hidden} > joined.txt")
    assert set(run["external"]) == {str(outside)}
    assert run["external"][str(outside)]["size"] == 4
    assert _paths(run) == (set(), {"joined.txt"})


@pytest.mark.skipif(not shutil.which("strace"), reason="no strace")
def test_sigterm_under_strict_ends_the_command_not_only_strace(ws: Path, tmp_path: Path) -> None:
    """strace only detaches from its command on SIGTERM: mlvc signals the command."""
    script = "import time, pathlib; pathlib.Path('started').touch(); time.sleep(60)"
    proc = subprocess.Popen(
        [MLVC, "run", "--trace=strict", "--", PYTHON, "-c", script],
        cwd=ws,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not (ws / "started").exists():
        assert proc.poll() is None, "mlvc ended before the command started"
        os.sched_yield()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert " interrupted · " in err
