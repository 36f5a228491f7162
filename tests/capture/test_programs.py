"""Which scripts interpreters ran, and which programs' reads only Python could not see."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlvc.capture import programs


@pytest.mark.parametrize(
    ("argv", "script"),
    [
        (["sh", "x.sh"], "x.sh"),
        (["/bin/bash", "-e", "-u", "x.sh", "arg"], "x.sh"),
        (["Rscript", "--vanilla", "x.R"], "x.R"),
        (["julia", "--project=.", "x.jl"], "x.jl"),
        (["node", "x.js", "--flag"], "x.js"),
        (["./x.sh"], "x.sh"),
        (["bash", "-c", "x.sh"], None),  # inline code, not a script
        (["node", "-e", "x.js"], None),
        (["Rscript", "-e", "x.R"], None),
        (["sort", "x.sh"], None),  # an operand, not a script
    ],
)
def test_scripts(tmp_path: Path, argv: list[str], script: str | None) -> None:
    for name in ("x.sh", "x.R", "x.jl", "x.js"):
        (tmp_path / name).write_text("")
    expected = {str(tmp_path / script)} if script else set()
    found = programs.scripts([argv], str(tmp_path))
    assert {p for p in found if p.startswith(str(tmp_path))} == expected  # /bin/bash exists too


def test_a_script_that_does_not_exist_is_not_code(tmp_path: Path) -> None:
    assert programs.scripts([["sh", "gone.sh"]], str(tmp_path)) == set()


def test_unseen_names_the_commands_of_a_shell_script() -> None:
    script = "LC_ALL=C sort in.csv | uniq -c > out.txt 2> err.txt && awk 1 out.txt; python3 x.py"
    assert programs.unseen([["bash", "-c", script], ["python", "y.py"]]) == [
        "bash",
        "sort",
        "uniq",
        "awk",
    ]
    assert programs.unseen([["python3.11", "train.py"], ["./train.py"]]) == []
    assert programs.unseen([["pytest", "-q"]], pythons=frozenset({"pytest"})) == []


def test_traced_argvs_from_the_python_tracer() -> None:
    execs = ["['sort', 'a']", "'ls -l x'", "(b'cat', b'f')", "<object>"]
    assert programs.traced_argvs(execs) == [["sort", "a"], ["ls", "-l", "x"], ["cat", "f"]]
