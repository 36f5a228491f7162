"""Canonical msgpack: round-trips, and exactly one accepted encoding per value."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlvc import codec
from mlvc.errors import CorruptObjectError

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=40)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


@given(values)
def test_round_trip(value: Any) -> None:
    data = codec.encode(value)
    assert codec.decode(data, "value") == value
    assert codec.encode(codec.decode(data, "value")) == data


@given(
    st.dictionaries(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1), min_size=2, max_size=6)
)
def test_key_order_never_changes_the_encoding(mapping: dict[str, int]) -> None:
    reversed_mapping = dict(reversed(list(mapping.items())))
    assert codec.encode(mapping) == codec.encode(reversed_mapping)


@given(
    st.dictionaries(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1), min_size=2, max_size=6)
)
def test_unsorted_map_bytes_are_rejected(mapping: dict[str, int]) -> None:
    ordered = sorted(mapping)
    if ordered == list(reversed(ordered)):
        return
    raw = msgpack.packb(dict((k, mapping[k]) for k in reversed(ordered)), use_bin_type=True)
    with pytest.raises(CorruptObjectError):
        codec.decode(raw, "value")


def test_float32_is_not_canonical() -> None:
    raw = msgpack.packb(1.5, use_single_float=True)
    with pytest.raises(CorruptObjectError, match="canonical"):
        codec.decode(raw, "value")


def test_duplicate_keys_are_rejected() -> None:
    raw = b"\x82\xa1a\x01\xa1a\x02"  # {"a": 1, "a": 2}
    with pytest.raises(CorruptObjectError):
        codec.decode(raw, "value")


def test_extension_types_are_rejected() -> None:
    raw = msgpack.packb(msgpack.ExtType(5, b"xx"))
    with pytest.raises(CorruptObjectError, match="does not decode"):
        codec.decode(raw, "value")


def test_non_minimal_int_is_rejected() -> None:
    raw = b"\xcd\x00\x05"  # 5 as uint16
    with pytest.raises(CorruptObjectError):
        codec.decode(raw, "value")


def test_non_string_keys_cannot_be_encoded() -> None:
    with pytest.raises(TypeError):
        codec.encode({1: "x"})


def _nested(levels: int) -> Any:
    """[[...[1]...]]: the innermost list `levels` containers below the top one."""
    value: Any = [1]
    for _ in range(levels):
        value = [value]
    return value


def test_rows_of_scalars_nest_as_deep_as_encode_allows_and_no_deeper() -> None:
    deepest = _nested(codec.MAX_DEPTH - 1)  # its row of scalars at depth MAX_DEPTH - 1
    assert codec.decode(codec.encode(deepest), "value") == deepest
    too_deep = _nested(codec.MAX_DEPTH)
    with pytest.raises(ValueError):
        codec.encode(too_deep)
    with pytest.raises(CorruptObjectError, match="nests too deeply"):
        codec.decode(msgpack.packb(too_deep, use_bin_type=True), "value")


def test_an_unsorted_map_among_rows_of_scalars_is_rejected() -> None:
    """A tree's entries are rows of scalars, which the check passes over: a map in one
    of them is still looked at."""
    rows = [["a", 1, b"x"], ["b", {"z": 1, "a": 2}], ["c", 3]]
    raw = msgpack.packb({"entries": rows}, use_bin_type=True)
    with pytest.raises(CorruptObjectError, match="not sorted"):
        codec.decode(raw, "value")
