"""The merge that replaces a root's tracked rows: the same table as a delete of every
row and an insert of every wanted one, with no write for a row already as wanted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mlvc.store.rowdiff import changes

# Few path characters, among them the ones that sort around '/' ('-' and '.' before it,
# '0' after it), so that neighbours of a directory's key range come up often.
paths = st.text(alphabet="a/-.0é", min_size=1, max_size=4)
rows = st.tuples(paths, st.sampled_from([b"x", b"y"]), st.integers(0, 2))


@given(
    st.dictionaries(paths, st.tuples(st.sampled_from([b"x", b"y"]), st.integers(0, 2))),
    st.lists(rows),
)
def test_the_merge_gives_what_delete_and_insert_give(
    there: dict[str, tuple[bytes, int]], wanted: list[tuple[str, bytes, int]]
) -> None:
    old = {path: (path, *rest) for path, rest in there.items()}
    gone, changed = changes(iter(sorted(old.values())), wanted)

    table = dict(old)
    for (path,) in gone:
        del table[path]
    for row in changed:  # INSERT OR REPLACE, in order
        table[row[0]] = row
    assert table == {row[0]: row for row in sorted(wanted)}
    unique = {row[0] for row in wanted}
    assert {path for (path,) in gone} == set(old) - unique
    if len(unique) == len(wanted):  # no path given twice: a row already there is not written
        assert all(old.get(row[0]) != row for row in changed)
