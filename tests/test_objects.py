"""A tree is checked a column at a time when it is sound, and entry by entry when it is
not: both ways agree on every tree, and a bad entry is named as before."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlvc import codec
from mlvc.errors import CorruptObjectError
from mlvc.objects import Tree, TreeEntry, _checked_entries

OID = bytes(range(32))
GOOD: list[list[Any]] = [[f"f{n:03}", "file", n % 2 == 0, n, OID] for n in range(50)]

# Each way an entry can be wrong, at any place in the tree.
FAULTS: dict[str, Any] = {
    "a map": lambda row: {"name": row[0]},
    "four fields": lambda row: row[:4],
    "name not text": lambda row: [b"f", *row[1:]],
    "name with a slash": lambda row: ["a/b", *row[1:]],
    "name dot-dot": lambda row: ["..", *row[1:]],
    "name .GIT": lambda row: [".GIT", *row[1:]],
    "empty name": lambda row: ["", *row[1:]],
    "control in name": lambda row: [row[0] + "\n", *row[1:]],
    "unknown kind": lambda row: [row[0], "pipe", *row[2:]],
    "kind not text": lambda row: [row[0], 1, *row[2:]],
    "exec bit an int": lambda row: [*row[:2], 1, *row[3:]],
    "negative size": lambda row: [*row[:3], -1, row[4]],
    "size a bool": lambda row: [*row[:3], True, row[4]],
    "size a float": lambda row: [*row[:3], 1.0, row[4]],
    "short id": lambda row: [*row[:4], OID[:31]],
    "id as text": lambda row: [*row[:4], "x" * 32],
}


def _decode(rows: list[Any]) -> Tree:
    return Tree.decode(codec.encode({"v": 1, "entries": rows}))


def test_a_sound_tree_decodes_to_its_entries() -> None:
    tree = _decode(GOOD)
    assert tree.entries == tuple(TreeEntry(*row) for row in GOOD)
    assert all(type(e) is TreeEntry for e in tree.entries)
    assert tree.entries[3].size == 3 and tree.entries[3].executable is False
    assert _decode([]).entries == ()


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("at", [0, 25, 49])
def test_a_bad_entry_anywhere_is_refused_with_the_per_entry_message(fault: str, at: int) -> None:
    rows = [list(row) for row in GOOD]
    rows[at] = FAULTS[fault](rows[at])
    with pytest.raises(CorruptObjectError) as refused:
        _decode(rows)
    with pytest.raises(CorruptObjectError) as slow:
        _checked_entries(rows, "tree")
    assert refused.value.message == slow.value.message


@pytest.mark.parametrize("order", ["unsorted", "duplicate"])
def test_names_out_of_order_are_refused(order: str) -> None:
    rows = [list(row) for row in GOOD]
    rows[10][0] = rows[20][0] if order == "unsorted" else rows[9][0]
    with pytest.raises(CorruptObjectError, match="sorted and unique"):
        _decode(rows)


@given(st.lists(st.sampled_from(["a", "b", ".", "..", "C:", "x\x00", ".git", "é", ""]), max_size=5))
def test_both_ways_agree_on_any_names(names: list[str]) -> None:
    rows = [[name, "file", False, 1, OID] for name in names]
    try:
        slow: tuple[TreeEntry, ...] | str = _checked_entries(rows, "tree")
    except CorruptObjectError as exc:
        slow = exc.message
    try:
        fast: tuple[TreeEntry, ...] | str = _decode(rows).entries
    except CorruptObjectError as exc:
        fast = exc.message
    assert fast == slow
