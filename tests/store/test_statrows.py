"""`StatRows`: stat-cache rows held compactly give back exactly the rows put in, and in
path order the later of a path given twice comes later (the index keeps it)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mlvc.ids import ObjectId
from mlvc.store.statrows import StatRow, StatRows

rows = st.tuples(
    st.text(alphabet="ab/é", min_size=1, max_size=3),
    st.builds(
        StatRow,
        st.integers(0, 2**63 - 1),
        st.integers(-(2**63), 2**63 - 1),  # a time before 1970 is negative
        st.integers(0, 2**64 - 1),  # an inode number is unsigned
        st.binary(min_size=32, max_size=32).map(ObjectId),
        st.integers(0, 2**63 - 1),
        st.integers(-(2**63), 2**63 - 1),
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(rows, max_size=20))
def test_the_rows_put_in_come_back_and_in_path_order_stably(
    given_rows: list[tuple[str, StatRow]],
) -> None:
    held = StatRows()
    for path, row in given_rows:
        held.add(path, *row)
    assert len(held) == len(given_rows)
    assert list(held) == given_rows
    assert list(held.in_path_order()) == sorted(given_rows, key=lambda r: r[0])
