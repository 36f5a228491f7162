"""Names and text that are data, not instructions: brackets (rich markup), ANSI escapes,
tabs and newlines in paths, messages, params and argv; names no tree can hold (reported,
never dropped silently); names that are not UTF-8; devices handed to hash-object.

Every read command is driven through the real `mlvc` script, piped (plain text) and on a
pseudo-terminal (the rich path: `sys.stdout.isatty()` is true there), with and without
`--json`; the JSON must carry the exact text.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import init_store, isolated_env, runner

MLVC = str(Path(sys.executable).with_name("mlvc"))

# User text holding rich markup, an emoji code, an SGR and an OSC escape, a tab, a newline.
ESC_SGR = "\x1b[31mEVIL"
ESC_OSC = "\x1b]0;pwned\x07"
EVIL = f"lr [/] sweep [/x] [bold]b :smile: {ESC_SGR} {ESC_OSC}\ttab\nline2"
EVIL_SHOWN = "lr [/] sweep [/x] [bold]b :smile: \\x1b[31mEVIL \\x1b]0;pwned\\x07\\ttab\\nline2"
DATA = "data/[bold].csv"  # a path a tree can hold, full of markup
NESTED = "data/[/x]"  # a directory `[` holding `x]`
SCRIPT = """\
import json, sys
open("data/[bold].csv").read()
open("data/[/x]").read()
json.load(open("params.json"))
with open("[bold]out.txt", "w") as f:
    f.write("header\\n" + sys.argv[1] + "\\n")
"""


def env() -> dict[str, str]:
    """No colour forced on a pipe: piped output must then be plain text."""
    return {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}


def json_of(result: Any) -> Any:
    return json.loads(result.ok().stdout)


@pytest.fixture(scope="module")
def evil_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Two runs and a snapshot whose paths, messages, params and argv hold EVIL, made with
    the real `mlvc` script once per module; each test works in a copy (`evil`)."""
    workspace = tmp_path_factory.mktemp("evil") / "ws"
    workspace.mkdir()
    run_env = isolated_env(tmp_path_factory)
    mlvc = runner(workspace, run_env)

    def cli(*args: str) -> str:
        return mlvc(*args).stdout

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=workspace, env=run_env, check=True)

    git("init", "-q")
    cli("init")
    (workspace / "data" / "[").mkdir(parents=True)
    (workspace / DATA).write_text("a,b\n1,2\n")
    (workspace / NESTED).write_text(EVIL)
    (workspace / "train.py").write_text(SCRIPT)
    (workspace / "params.json").write_text(json.dumps({"opt": {"lr [/x]": EVIL}, EVIL: 1}))
    git("add", "-A")
    git("commit", "-qm", "init")
    cli("add", "data", "params.json", "-m", EVIL)
    run = ["run", "--message", EVIL, "-p", "params.json", "--json"]
    first = json.loads(cli(*run, "--", sys.executable, "train.py", EVIL))["run_id"]
    (workspace / "params.json").write_text(json.dumps({"opt": {"lr [/x]": "[/]"}, EVIL: 2}))
    cli("add", "params.json", "-m", "[/]")
    second = json.loads(cli(*run, "--", sys.executable, "train.py", "[/]"))["run_id"]
    cli("tag", "prod", second, "-m", EVIL)
    (workspace / DATA).write_text("changed\n")
    (workspace / "data" / "ev\x1b[1mil").write_text("x")  # unstorable: reported, escaped
    return workspace, {"first": first, "second": second}


@pytest.fixture
def evil(workspace: Path, evil_template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    """`evil_template` copied into this test's workspace; its run ids."""
    template, ids = evil_template
    shutil.rmtree(workspace)
    shutil.copytree(template, workspace, symlinks=True)
    return dict(ids)


def read_commands(ids: dict[str, str], workspace: Path, cli) -> list[tuple[str, ...]]:
    show = json_of(cli("show", "--json", ids["second"]))
    data_tree = json_of(cli("log", "--json", "data"))["versions"][0]["id"]
    return [
        ("status",),
        ("log",),
        ("log", "--oneline"),
        ("log", "--all"),
        ("log", "[bold]out.txt"),
        ("log", "[bold]out.txt", "--oneline"),
        ("log", DATA),
        ("show", ids["first"]),
        ("show", "latest"),
        ("diff", ids["first"], ids["second"]),
        ("diff", ids["first"], ids["second"], "--all"),
        ("diff", f"[bold]out.txt@{ids['first']}", f"[bold]out.txt@{ids['second']}", "--content"),
        ("blame", "[bold]out.txt"),
        ("blame", "[bold]out.txt", "--lines"),
        ("blame", "params.json", "--keys"),
        ("graph",),
        ("graph", "[bold]out.txt"),
        ("graph", "--format", "dot"),
        ("graph", "--format", "mermaid"),
        ("tag",),
        ("tag", "prod", "--history"),
        ("ls-tree", "-r", data_tree),
        ("cat-object", show["outputs"]["[bold]out.txt"]["id"]),
    ]


def shows_content(args: tuple[str, ...]) -> bool:
    """Lines of a file are shown with their tabs (and newlines) kept."""
    return "--lines" in args or "--content" in args


def check_plain(out: str, args: tuple[str, ...]) -> None:
    """No raw escape, no unescaped tab of EVIL (but in file content), markup as written."""
    assert "\x1b" not in out, f"raw ESC in the output of mlvc {args}:\n{out!r}"
    assert "\x07" not in out, f"raw BEL in the output of mlvc {args}"
    assert "\ttab" not in out or shows_content(args), f"raw tab in the output of mlvc {args}"
    assert ":smile:" in out or "smile" not in out, "an emoji code was rendered"


def test_every_read_command_shows_user_text_as_data(workspace: Path, cli, evil) -> None:
    """Piped: each read command exits 0 and prints EVIL escaped, markup as written."""
    checked = 0
    for args in read_commands(evil, workspace, cli):
        result = cli(*args).ok()
        out = result.stdout.decode("utf-8")
        if args[0] != "cat-object":  # a file's own bytes, raw by design
            check_plain(out, args)
            assert "\x1b" not in result.stderr
        checked += 1
    assert checked > 20
    text = {args: cli(*args).ok().text() for args in [("log",), ("show", evil["first"])]}
    assert EVIL_SHOWN in text[("show", evil["first"])]  # the message on one line
    assert "[bold]b :smile: \\x1b[31mEVIL" in text[("log",)]  # log keeps the message's lines
    show = cli("show", evil["first"]).ok().text()
    assert "'lr [/] sweep [/x] [bold]b" in show  # argv, shell-quoted, brackets kept
    assert "data/[bold].csv" in show and "data/[/x]" in show
    assert "lr [/x]" in show  # a params key
    status = cli("status").ok()
    assert "modified: data/[bold].csv" in status.text()
    assert "data/ev\\x1b[1mil" in status.stderr and "\x1b" not in status.stderr


def test_every_read_command_json_round_trips_the_text(workspace: Path, cli, evil) -> None:
    for args in read_commands(evil, workspace, cli):
        if args[0] in ("cat-object",) or "--format" in args or args[0] == "graph":
            continue
        json_of(cli(*args, "--json"))  # every one is valid JSON
    show = json_of(cli("show", "--json", evil["first"]))
    assert show["message"] == EVIL
    assert show["command"][-1] == EVIL
    assert show["params"]["opt.lr [/x]"] == EVIL
    assert set(show["inputs"]) >= {DATA, NESTED}
    assert json_of(cli("log", "--json"))["runs"][0]["message"] == EVIL
    diff = json_of(cli("diff", "--json", evil["first"], evil["second"]))
    assert diff["differ"] is True
    history = json_of(cli("tag", "prod", "--history", "--json"))["history"]
    assert history[-1]["message"] == EVIL
    status = json_of(cli("status", "--json"))
    assert status["changes"] == [{"path": DATA, "state": "modified"}]
    assert status["skipped"] == ["data/ev\x1b[1mil"]
    first_out = f"[bold]out.txt@{evil['first']}"
    lines = json_of(cli("blame", "--json", first_out, "--lines"))["lines"]
    assert [line["text"] for line in lines] == ["header", *EVIL.split("\n")]
    graph = json_of(cli("graph", "--format", "json"))
    assert {DATA, NESTED} <= {node["path"] for node in graph["nodes"]}


# -- the rich path: a pseudo-terminal ---------------------------------------------------


def on_terminal(workspace: Path, *args: str, columns: int = 200) -> tuple[int, str, str]:
    """Run mlvc with stdout on a pseudo-terminal of `columns` columns; (code, out, err)."""
    import fcntl
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(
        [MLVC, *args],
        cwd=workspace,
        env={**env(), "TERM": "xterm-256color"},
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            pytest.fail(f"mlvc {args} printed nothing for 60 s on a terminal")
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer of the terminal has gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    err = proc.stderr.read().decode() if proc.stderr else ""
    code = proc.wait(timeout=60)
    return code, b"".join(chunks).decode("utf-8").replace("\r\n", "\n"), err


def test_every_read_command_on_a_terminal(workspace: Path, cli, evil) -> None:
    """The rich rendering: styles are mlvc's own; the user's escapes are shown escaped."""
    outputs = {}
    for args in read_commands(evil, workspace, cli):
        if args[0] == "cat-object":
            continue
        code, out, err = on_terminal(workspace, *args)
        assert code == 0, f"mlvc {args} exited {code} on a terminal:\n{err}"
        assert ESC_SGR not in out and "\x1b]" not in out and "\x07" not in out, (args, out)
        assert "\ttab" not in out or shows_content(args), args
        outputs[args] = out
    assert "\x1b[" in outputs[("status",)]  # really the styled path: rich coloured it
    assert "\\x1b[31mEVIL" in outputs[("show", evil["first"])]
    assert "[bold]b" in outputs[("log",)]
    assert "modified:" in outputs[("status",)] and "data/[bold].csv" in outputs[("status",)]


def test_add_and_checkout_on_a_terminal_show_names_as_written(workspace: Path, cli) -> None:
    """add and checkout print plain lines on a pipe (their fast path) and rich on a
    terminal: both show the names as written, and the skipped one escaped."""
    init_store(workspace)
    (workspace / "d").mkdir()
    (workspace / "d" / "[bold]x").write_text("1")
    (workspace / "d" / "ev\x1b[1mil").write_text("1")
    code, out, err = on_terminal(workspace, "add", "d")
    assert code == 0, err
    assert "d " in out and "(1 files)" in out and "\x1b[1mil" not in out
    assert "skipped 1 name mlvc cannot store: d/ev\\x1b[1mil" in err, err
    (workspace / "d" / "[bold]x").write_text("2")
    run = json_of(cli("log", "--json"))["runs"][0]["id"]
    code, out, err = on_terminal(workspace, "checkout", "--force", run)
    assert code == 0, err
    assert "d/[bold]x" in out


# -- the crashes of issue 10, one by one -----------------------------------------------


def test_brackets_in_a_message_do_not_crash_log_or_show(workspace: Path, cli) -> None:
    init_store(workspace)
    cli("run", "--message", "lr [/] sweep", "--", "true").ok()
    for args in (("log",), ("log", "--oneline"), ("show", "latest")):
        result = cli(*args).ok()
        assert "lr [/] sweep" in result.text() or args == ("log", "--oneline"), args


def test_a_bracketed_path_is_shown_whole_by_status(workspace: Path, cli) -> None:
    init_store(workspace)
    (workspace / "data").mkdir()
    (workspace / "data" / "[x].csv").write_text("a")
    cli("add", "data").ok()
    (workspace / "data" / "[x].csv").write_text("b")
    assert "modified: data/[x].csv" in cli("status").ok().text()
    code, out, err = on_terminal(workspace, "status")
    assert code == 0, err
    assert "data/[x].csv" in out


def test_an_argv_element_of_brackets_is_shown(workspace: Path, cli) -> None:
    init_store(workspace)
    cli("run", "--", "echo", "[/]", "[bold]").ok()
    assert "echo '[/]' '[bold]'" in cli("show", "latest").ok().text()
    assert "echo '[/]' '[bold]'" in cli("log").ok().text()


UNSTORABLE = ["a\nb", "a\\b", "C:foo", "tab\there"]


@pytest.mark.parametrize("name", UNSTORABLE, ids=repr)
def test_add_reports_a_name_it_cannot_store(workspace: Path, cli, name: str) -> None:
    init_store(workspace)
    (workspace / "d").mkdir()
    (workspace / "d" / "ok").write_text("1")
    (workspace / "d" / name).write_text("2")
    result = cli("add", "d").ok()
    assert "warning: skipped 1 name mlvc cannot store" in result.stderr, result.stderr
    assert "\n" not in result.stderr.split("store: ")[1].split("\nhint")[0]
    added = json_of(cli("add", "--json", "d"))
    assert added["skipped"] == [f"d/{name}"] and added["files"] == 1
    status = cli("status").ok()
    assert "skipped 1 name" in status.stderr
    assert json_of(cli("status", "--json"))["skipped"] == [f"d/{name}"]


@pytest.mark.parametrize("reserved", [".git", ".MLVC", ".Git"])
def test_add_reports_a_nested_git_or_mlvc_directory(workspace: Path, cli, reserved) -> None:
    init_store(workspace)
    (workspace / "d" / "sub" / reserved).mkdir(parents=True)
    (workspace / "d" / "sub" / reserved / "config").write_text("x")
    (workspace / "d" / "ok").write_text("1")
    result = cli("add", "--json", "d")
    assert json_of(result)["skipped"] == [f"d/sub/{reserved}/"]
    assert "skipped 1 name" in cli("status").ok().stderr


def test_ignored_unstorable_names_are_not_reported(workspace: Path, cli) -> None:
    """.mlvcignore is how a user says "I know"; the workspace's own .git is never named."""
    init_store(workspace)
    (workspace / "d" / "vendor" / ".git").mkdir(parents=True)
    (workspace / "d" / "ok").write_text("1")
    (workspace / "d" / "C:x").write_text("1")
    skipped = json_of(cli("add", "--json", "."))["skipped"]
    assert skipped == ["d/C:x", "d/vendor/.git/"]
    (workspace / ".mlvcignore").write_text("C:x\n.git/\n")
    result = cli("add", ".").ok()
    assert "warning" not in result.stderr, result.stderr


def test_add_refuses_an_unstorable_path_named_on_the_command_line(workspace: Path, cli) -> None:
    init_store(workspace)
    (workspace / "a\nb").write_text("1")
    cli("add", "a\nb").clean_error("cannot track", "\\n")
    assert b"nothing tracked" in cli("status").ok().stdout


# -- names that are not UTF-8 ----------------------------------------------------------

BAD = b"z\xff.bin"


def test_add_skips_and_reports_a_name_that_is_not_utf8(workspace: Path, cli) -> None:
    init_store(workspace)
    os.makedirs(workspace / "d")
    (workspace / "d" / "ok").write_text("1")
    with open(os.path.join(os.fsencode(workspace), b"d", BAD), "wb") as f:
        f.write(b"x")
    result = cli("add", "d").ok()
    assert "d/z\\xff.bin" in result.stderr, result.stderr
    assert json_of(cli("add", "--json", "d"))["skipped"] == ["d/z\udcff.bin"]
    status = cli("status").ok()
    assert "clean" in status.text() and "d/z\\xff.bin" in status.stderr
    bad_arg = os.fsdecode(os.path.join(b"d", BAD))
    cli("add", bad_arg).clean_error("cannot track")


def test_run_keeps_its_record_and_exit_code_despite_a_name_that_is_not_utf8(
    workspace: Path, cli
) -> None:
    """A traced write, a scanned file and a directory entry that are not UTF-8."""
    init_store(workspace)
    script = (
        "import os, sys\n"
        "os.makedirs('out', exist_ok=True)\n"
        "open('out/ok.txt', 'w').write('fine')\n"
        "open(b'out/z\\xff.bin', 'wb').write(b'x')\n"
        "open(b'top\\xfe', 'wb').write(b'y')\n"
        "sys.exit(7)\n"
    )
    (workspace / "w.py").write_text(script)
    result = cli("run", "--", sys.executable, "w.py")
    assert result.returncode == 7, result.describe()
    assert "warning: skipped 2 names" in result.stderr, result.stderr
    run = json_of(cli("show", "--json", "latest"))
    assert run["exit_code"] == 7 and run["status"] == "failed"
    assert "out" in run["outputs"]
    outputs = json_of(cli("ls-tree", "--json", run["outputs"]["out"]["id"]))["entries"]
    assert [e["path"] for e in outputs] == ["ok.txt"]


def test_run_json_reports_the_skipped_names(workspace: Path, cli) -> None:
    init_store(workspace)
    done = cli("run", "--json", "--", "sh", "-c", "printf x > 'a\\b'; printf y > ok")
    result = json_of(done)
    assert result["skipped"] == ["a\\b"] and result["outputs"] == 1


def test_run_refuses_argv_that_is_not_utf8_before_running(workspace: Path, cli) -> None:
    init_store(workspace)
    marker = workspace / "ran"
    bad = os.fsdecode(b"\xff")
    cli("run", "--", "sh", "-c", f"touch {marker}", bad).clean_error("not valid UTF-8")
    assert not marker.exists()
    cli("run", "--message", bad, "--", "true").clean_error("message")


# -- hash-object -----------------------------------------------------------------------


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_hash_object_refuses_a_device(cli, device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    cli("hash-object", device, timeout=10).clean_error("not a regular file")


def test_hash_object_refuses_a_fifo(workspace: Path, cli) -> None:
    os.mkfifo(workspace / "pipe")
    cli("hash-object", "pipe", timeout=10).clean_error("not a regular file")


@pytest.mark.parametrize(
    "args",
    [("log", "{}"), ("log", "--owner", "{}"), ("graph", "{}"), ("blame", "{}")],
    ids=lambda a: " ".join(a),
)
def test_read_commands_refuse_arguments_that_are_not_utf8(workspace: Path, cli, args) -> None:
    """No such name is ever recorded: a clean error, not a crash in the index query."""
    init_store(workspace)
    cli("run", "--", "true").ok()
    bad = os.fsdecode(b"z\xff")
    with open(os.path.join(os.fsencode(workspace), b"z\xff"), "wb") as f:
        f.write(b"x")  # exists: blame looks at the workspace first
    cli(*[bad if a == "{}" else a for a in args]).clean_error("not valid UTF-8", "z\\xff")


def test_usage_errors_escape_the_arguments_they_name(workspace: Path, cli) -> None:
    result = cli("status", "x\x07\x1b]0;pwned\x07")
    assert result.returncode == 2, result.describe()
    assert "\x07" not in result.stderr and "\x1b" not in result.stderr
    assert "x\\x07" in result.stderr
