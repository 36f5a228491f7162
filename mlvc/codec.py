"""Canonical msgpack: exactly one encoding per value, and a decoder that trusts nothing."""

from __future__ import annotations

from typing import Any

import msgpack

from mlvc.errors import CorruptObjectError

MAX_DEPTH = 32
MAX_OBJECT_BYTES = 256 << 20
_LIMITS = {
    "max_str_len": 16 << 20,
    "max_bin_len": MAX_OBJECT_BYTES,
    "max_array_len": 16 << 20,
    "max_map_len": 16 << 20,
    "max_ext_len": 0,
}

Value = Any
"""A decoded value: None, bool, int, float, str, bytes, list, or dict with str keys."""


def encode(value: Value) -> bytes:
    """Canonical bytes: map keys sorted, floats as float64, ints in their shortest form.

    Only the value types listed in `Value` are accepted; tuples encode as lists.
    """
    return msgpack.packb(_canonical(value, 0), use_bin_type=True)  # type: ignore[no-any-return]


_PLAIN = frozenset({type(None), bool, int, str, bytes, float})


def _canonical(value: Value, depth: int) -> Value:
    """Containers rebuilt with sorted maps; a non-empty container at MAX_DEPTH (holding
    values deeper than that) is refused, as `decode` refuses it. Trees of 20k entries
    pass through here: exact scalar types are returned without a call."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if isinstance(value, bool | int | str | bytes | float) or value is None:
        return value  # a subclass (an IntEnum, say)
    if isinstance(value, list | tuple | dict) and value and depth >= MAX_DEPTH:
        raise ValueError("value nests too deeply to encode")
    if isinstance(value, list | tuple):
        plain = _PLAIN
        return [v if type(v) in plain else _canonical(v, depth + 1) for v in value]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"map keys must be strings, not {type(key).__name__}")
        plain = _PLAIN
        return {
            k: v if type(v) in plain else _canonical(v, depth + 1) for k, v in sorted(value.items())
        }
    raise TypeError(f"cannot encode {type(value).__name__} canonically")


def _check_maps(value: Value, depth: int) -> None:
    """Every map's keys are strings in sorted order, and nothing nests deeper than
    `encode` accepts (a container at `depth` holds values at `depth + 1`)."""
    if isinstance(value, dict):
        keys = list(value)
        if not all(isinstance(k, str) for k in keys) or keys != sorted(keys):
            raise ValueError("map keys are not sorted strings")
        children: Any = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return
    if depth >= MAX_DEPTH and value:
        raise ValueError("value nests too deeply")
    inner, plain = depth + 1, _PLAIN.issuperset
    for child in children:
        if type(child) is list and inner < MAX_DEPTH and plain(map(type, child)):
            continue  # a row of scalars (each entry of a tree): nothing below to check
        if isinstance(child, dict | list):
            _check_maps(child, inner)


def _no_ext(code: int, data: bytes) -> Value:
    raise ValueError(f"extension type {code} is not allowed")


def decode(data: bytes, what: str) -> Value:
    """Decode untrusted canonical bytes. Anything not in canonical form is corrupt.

    Canonical form is checked by re-encoding: a duplicate key, a float32 or a
    non-minimal int all re-encode to different bytes. The decoded value is re-encoded
    as it is (in C); map key order, which that keeps, is checked on its own: walking
    only the containers is ten times cheaper than rebuilding the value as `encode` does.
    """
    if len(data) > MAX_OBJECT_BYTES:
        raise CorruptObjectError(f"{what} is {len(data)} bytes, over the metadata limit")
    try:
        value = msgpack.unpackb(
            data, raw=False, use_list=True, strict_map_key=True, ext_hook=_no_ext, **_LIMITS
        )
        _check_maps(value, 0)
        canonical = msgpack.packb(value, use_bin_type=True)
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        raise CorruptObjectError(f"{what} does not decode: {exc}") from None
    if canonical != data:
        raise CorruptObjectError(f"{what} is not in canonical form")
    return value
