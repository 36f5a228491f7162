"""The whole-path check of a relative path agrees with the per-component rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlvc.errors import UnsafePathError
from mlvc.paths import check_name, check_relpath, names_are_safe, storable

# Pieces that sit on the rule's edges: reserved names in any case, dots, drive prefixes,
# separators, controls, a lone surrogate, and ordinary text around them.
PIECES = st.sampled_from(
    [
        "a", "data", "x.csv", ".", "..", "...", ".git", ".GIT", ".Mlvc", ".gitignore",
        ".mlvcx", "git", "C:", "c:x", "1:", "a:b", "/", "//", "\\", "\x00", "\x1f", "\x7f",
        "\n", "\ud800", "é", " ", "-", ":",
    ]
)  # fmt: skip


def _by_components(path: str) -> bool:
    """The rule as it reads: every `/`-separated component is a storable name."""
    if not path or path.startswith("/"):
        return False
    try:
        for part in path.split("/"):
            check_name(part)
    except UnsafePathError:
        return False
    return True


@given(st.lists(PIECES, max_size=6).map("".join))
def test_the_whole_path_check_agrees_with_each_component(path: str) -> None:
    assert storable(path) == _by_components(path)


@pytest.mark.parametrize(
    "path",
    ["", "/a", "a/", "a//b", "a/./b", "a/../b", "..", "a/.GIT/b", "a/.mlvc", "C:/x", "a/d:x"],
)
def test_unsafe_paths_are_still_refused(path: str) -> None:
    with pytest.raises(UnsafePathError):
        check_relpath(path)


@given(st.lists(st.lists(PIECES, max_size=3).map("".join), max_size=6))
def test_the_check_of_a_trees_names_at_once_agrees_with_each_name(names: list[str]) -> None:
    each = True
    for name in names:
        try:
            check_name(name)
        except UnsafePathError:
            each = False
    assert names_are_safe(tuple(names)) == each
