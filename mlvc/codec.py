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


def _canonical(value: Value, depth: int) -> Value:
    if depth > MAX_DEPTH:
        raise ValueError("value nests too deeply to encode")
    if value is None or isinstance(value, bool | int | str | bytes):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, list | tuple):
        return [_canonical(v, depth + 1) for v in value]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"map keys must be strings, not {type(key).__name__}")
        return {k: _canonical(value[k], depth + 1) for k in sorted(value)}
    raise TypeError(f"cannot encode {type(value).__name__} canonically")


def _no_ext(code: int, data: bytes) -> Value:
    raise ValueError(f"extension type {code} is not allowed")


def decode(data: bytes, what: str) -> Value:
    """Decode untrusted canonical bytes. Anything not in canonical form is corrupt.

    Canonical form is checked by re-encoding: a duplicate key, an unsorted map, a
    float32 or a non-minimal int all re-encode to different bytes.
    """
    if len(data) > MAX_OBJECT_BYTES:
        raise CorruptObjectError(f"{what} is {len(data)} bytes, over the metadata limit")
    try:
        value = msgpack.unpackb(
            data, raw=False, use_list=True, strict_map_key=True, ext_hook=_no_ext, **_LIMITS
        )
        canonical = encode(value)
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        raise CorruptObjectError(f"{what} does not decode: {exc}") from None
    if canonical != data:
        raise CorruptObjectError(f"{what} is not in canonical form")
    return value
