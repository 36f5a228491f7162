"""Merging rows sorted by path, for bulk index writes that must not hold a million rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

Row = TypeVar("Row", bound=tuple[Any, ...])


class InPathOrder:
    """Rows that come in path order (a path given twice: the later one later), taken as
    they are, never sorted (a million rows sorted at once were a million tuples held
    together, 80 MiB)."""

    def __init__(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self.rows = rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


def in_path_order(rows: Iterable[Row]) -> Iterable[Row]:
    """`rows` sorted by path (stably), unless they say they already are (`InPathOrder`)."""
    if isinstance(rows, InPathOrder):
        return rows
    return sorted(rows, key=by_path)


def by_path(row: tuple[Any, ...]) -> Any:
    """A row's key (its path, first): for sorts that keep the order of rows with one key."""
    return row[0]


def changes(
    there: Iterator[tuple[Any, ...]], wanted: Iterable[Row]
) -> tuple[list[tuple[str]], list[Row]]:
    """What turns the rows `there` (in path order, each path once) into `wanted`: the
    paths to delete, and the rows to insert or replace (those not already there as they
    are). `there` is read once, beside `wanted` sorted, and never held."""
    gone: list[tuple[str]] = []
    changed: list[Row] = []
    old = next(there, None)
    for row in sorted(wanted):
        while old is not None and old[0] < row[0]:
            gone.append((old[0],))
            old = next(there, None)
        if old is not None and old[0] == row[0]:
            if old != row:
                changed.append(row)
            old = next(there, None)
        else:
            changed.append(row)
    while old is not None:
        gone.append((old[0],))
        old = next(there, None)
    return gone, changed
