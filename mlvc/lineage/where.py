"""The filters and sort keys of a run table: `metrics.acc > 0.9`, `params.train.n_est ==
80`, `status == ok`. A key names a column (`status`, `duration`, `params.K`,
`metrics.K`); a value that reads as a number on both sides is compared as a number,
anything else as text."""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mlvc.errors import MlvcError

# Longest operators first, so that `<=` is never read as `<` followed by `=`.
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_EXPRESSION = re.compile(
    r"\s*(?P<key>[^<>=!]+?)\s*(?P<op>==|!=|<=|>=|<|>)\s*(?P<value>.*?)\s*", re.DOTALL
)
_QUOTED = re.compile(r"""(?P<q>['"])(?P<text>.*)(?P=q)""", re.DOTALL)
_SYNTAX_HINT = "write KEY OP VALUE with OP one of == != < <= > >=, e.g. --where 'metrics.acc > 0.9'"


class FilterSyntaxError(MlvcError):
    """A --where expression that does not read as KEY OP VALUE."""


class UnknownColumnError(MlvcError):
    """A --where or --sort key that no listed run has."""


@dataclass(frozen=True)
class Condition:
    key: str
    op: str
    value: str
    quoted: bool  # '80' in quotes is the text 80, never the number

    def holds(self, found: Any, present: bool) -> bool:
        """Whether a run whose value for `key` is `found` passes; a run without the key
        (`present` false) never does, whatever the operator."""
        if not present:
            return False
        compare = _OPERATORS[self.op]
        number = None if self.quoted else _number(self.value)
        mine = _number(found)
        if number is not None and mine is not None:
            return compare(mine, number)
        return compare(text(found), self.value)


def parse(expression: str) -> Condition:
    match = _EXPRESSION.fullmatch(expression)
    if match is None or not match["value"]:
        raise FilterSyntaxError(f"cannot read the filter '{expression}'", hint=_SYNTAX_HINT)
    value = match["value"]
    quoted = _QUOTED.fullmatch(value)
    if quoted is not None:
        value = quoted["text"]
    return Condition(match["key"], match["op"], value, quoted is not None)


def check_key(key: str, known: Iterable[str], flag: str) -> None:
    """Refuse a key that no run has, listing the ones there are."""
    keys = sorted(set(known))
    if key in keys:
        return
    import difflib

    close = difflib.get_close_matches(key, keys, 1, cutoff=0.6)
    listed = ", ".join(keys[:40]) + (f" and {len(keys) - 40} more" if len(keys) > 40 else "")
    guess = f"did you mean '{close[0]}'? " if close else ""
    raise UnknownColumnError(
        f"{flag} names '{key}', which none of the listed runs has",
        hint=f"{guess}the keys are: {listed}",
    )


def text(value: Any) -> str:
    """A value as a cell of text: JSON's spelling for booleans, null and lists."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def sort_key(value: Any) -> tuple[int, float, str]:
    """Numbers in numeric order, then text in text order."""
    number = _number(value)
    if number is not None:
        return (0, number, "")
    return (1, 0.0, text(value))
