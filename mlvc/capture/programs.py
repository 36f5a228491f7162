"""The programs a run started, by their argv: the scripts interpreters ran (recorded as code,
like `python x.py`), and the programs whose reads a capture mode could not see."""

from __future__ import annotations

import ast
import os
import shlex

# Interpreters whose first operand is the script they run (after their own options), with
# the options after which the code is inline instead: there is no script file to record.
_SHELL = frozenset({"-c"})
_INLINE = {
    **dict.fromkeys(("sh", "bash", "dash", "zsh", "ksh"), _SHELL),
    "Rscript": frozenset({"-e"}),
    "julia": frozenset({"-e", "--eval", "-E", "--print"}),
    "node": frozenset({"-e", "--eval", "-p", "--print"}),
    "perl": frozenset({"-e", "-E"}),
    "ruby": frozenset({"-e"}),
}
INTERPRETERS = frozenset(_INLINE)
_PYTHON_PREFIX = "python"


def scripts(argvs: list[list[str]], cwd: str) -> set[str]:
    """Absolute paths of the files that `argvs` ran as programs or scripts: `./tool`,
    `sh x.sh`, `Rscript x.R`... (only those that exist: filtered to the workspace later)."""
    found = set()
    for argv in argvs:
        if not argv:
            continue
        if os.sep in argv[0]:
            found.add(os.path.normpath(os.path.join(cwd, argv[0])))
        script = _script(argv)
        if script is not None:
            found.add(os.path.normpath(os.path.join(cwd, script)))
    return {path for path in found if os.path.isfile(path)}


def _script(argv: list[str]) -> str | None:
    inline = _INLINE.get(os.path.basename(argv[0]))
    if inline is None:
        return None
    for arg in argv[1:]:
        if arg in inline or arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


def traced_argvs(execs: list[str]) -> list[list[str]]:
    """The argvs the Python tracer saw started (`repr` of a Popen/exec argument)."""
    found = []
    for text in execs:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(value, str | bytes):
            found.append(_split(os.fsdecode(value)))
        elif isinstance(value, list | tuple):
            found.append([os.fsdecode(v) if isinstance(v, bytes) else str(v) for v in value])
    return [argv for argv in found if argv]


def unseen(argvs: list[list[str]], pythons: frozenset[str] = frozenset()) -> list[str]:
    """The names of the programs of `argvs` that are not Python (whose reads only the
    Python tracer could not see), the commands of a `sh -c` script included, in order.
    `pythons` names programs that ran as traced Python processes (`pytest`, `./train.py`)."""
    names: list[str] = []
    for argv in argvs:
        for name in _programs(argv):
            python = name.startswith(_PYTHON_PREFIX) or name.endswith(".py") or name in pythons
            if not python and name not in names:
                names.append(name)
    return names


def _programs(argv: list[str]) -> list[str]:
    if not argv:
        return []
    name = os.path.basename(argv[0])
    if _INLINE.get(name) is _SHELL and "-c" in argv[1:-1]:
        script = argv[argv.index("-c", 1) + 1]
        return [name, *(os.path.basename(first) for first in _commands(script))]
    return [name]


_OPERATORS = frozenset({"|", "||", "&", "&&", ";", "(", ")", "|&", ";;"})
_REDIRECTS = frozenset({">", ">>", "<", "<<", ">&", "<&", "<>", ">|"})
_KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!"})


def _commands(script: str) -> list[str]:
    """The first word of each simple command of a shell script (best effort)."""
    try:
        lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:
        return []
    found, expect, skip = [], True, False
    for word in words:
        if skip:
            skip = False
        elif word in _OPERATORS or word in _KEYWORDS:
            expect = True
        elif word in _REDIRECTS:
            skip = True  # the redirection's target
        elif expect and "=" not in word:
            found.append(word)
            expect = False
    return found


def _split(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()
