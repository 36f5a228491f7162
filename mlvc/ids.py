"""Object identities: BLAKE3 of file bytes, derive-key BLAKE3 of metadata, hex and prefixes."""

from __future__ import annotations

import re
from enum import IntEnum
from typing import NewType

from mlvc.errors import InvalidIdError

ObjectId = NewType("ObjectId", bytes)
"""A 32-byte BLAKE3-256 digest. Shown to people as 64 lower-case hex digits."""

ID_LEN = 32
MIN_PREFIX = 4
_HEX = re.compile(r"[0-9a-f]+")


class Kind(IntEnum):
    """What an object is. The number is stored in pack entry headers."""

    CHUNK = 1  # raw file content: a whole small file or one piece of a large one
    MANIFEST = 2  # a multi-chunk file, stored under its file id
    MANIFEST_NODE = 3  # an interior page of a large file's manifest
    TREE = 4
    RUN = 5

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


# Derive-key contexts: one per metadata kind, so a file can never be mistaken for
# a tree or a run even when the bytes agree (domain separation).
_CONTEXTS = {
    Kind.MANIFEST_NODE: "mlvc 2026 manifest node v1",
    Kind.TREE: "mlvc 2026 tree v1",
    Kind.RUN: "mlvc 2026 run v1",
}


# blake3 is imported on first use: every command imports this module for ObjectId and
# `short`, and a clean `status` hashes nothing (the import is ~1 M instructions).


def file_id(data: bytes | memoryview) -> ObjectId:
    """The id of file content or a chunk: plain BLAKE3-256, equal to what `b3sum` prints."""
    from blake3 import blake3

    return ObjectId(blake3(data).digest())


def object_id(kind: Kind, canonical: bytes) -> ObjectId:
    """The id of a metadata object: BLAKE3 in derive-key mode over its canonical bytes."""
    context = _CONTEXTS.get(kind)
    if context is None:
        raise ValueError(f"{kind.label} objects are addressed by content, not derive-key")
    from blake3 import blake3

    return ObjectId(blake3(canonical, derive_key_context=context).digest())


def short(oid: bytes, length: int = 12) -> str:
    return oid.hex()[:length]


def from_hex(text: str) -> ObjectId:
    """A full 64-digit hex id; anything else is an InvalidIdError."""
    text = text.strip().lower()
    if len(text) != ID_LEN * 2 or not _HEX.fullmatch(text):
        raise InvalidIdError(f"'{text}' is not a full object id (64 hex digits)")
    return ObjectId(bytes.fromhex(text))


def check_prefix(text: str) -> str:
    """Normalise a user-typed id or prefix, or raise InvalidIdError."""
    text = text.strip().lower()
    if not _HEX.fullmatch(text) or len(text) > ID_LEN * 2:
        raise InvalidIdError(f"'{text}' is not an object id (hex digits expected)")
    if len(text) < MIN_PREFIX:
        raise InvalidIdError(
            f"id prefix '{text}' is too short", hint=f"give at least {MIN_PREFIX} hex digits"
        )
    return text
