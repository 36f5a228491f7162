"""One object's bytes from its stored bytes, verified: lengths, check, codec, id, schema.

Shared by the local object store and the remote reader, which differ only in where the
stored bytes come from and in what the error's hint says.
"""

from __future__ import annotations

from mlvc import objects
from mlvc.errors import CorruptObjectError
from mlvc.ids import Kind, ObjectId, file_id, object_id, short
from mlvc.store import compress
from mlvc.store.entry import Entry
from mlvc.store.pack import check_of


def unpack(e: Entry, stored: bytes | memoryview, where: str, hint: str) -> bytes:
    """An entry's raw bytes: lengths, checksum (before anything is decompressed) and
    codec checked. `where` names the pack (and remote) in messages. The id is checked by
    `check_id`."""
    what = f"{e.kind.label} {short(e.id)}"
    if len(stored) != e.stored_len:
        raise CorruptObjectError(f"{what} is truncated in {where}", hint=hint)
    if e.kind is not Kind.CHUNK and check_of(stored) != e.check:
        raise CorruptObjectError(
            f"corrupt object {e.id.hex()}: {what} fails its checksum in {where}", hint=hint
        )
    if e.codec == compress.Codec.ZSTD:
        return compress.decompress(
            bytes(stored), e.raw_len, f"corrupt object {e.id.hex()} in {where}"
        )
    if e.codec != compress.Codec.RAW:
        raise CorruptObjectError(f"{what} has unknown codec {e.codec} in {where}", hint=hint)
    return bytes(stored)


def plain_chunk(e: Entry) -> bool:
    """A chunk stored as it is: its stored bytes are its raw bytes, checked by its id."""
    return e.kind is Kind.CHUNK and e.codec == compress.Codec.RAW and e.raw_len == e.stored_len


def check_id(oid: bytes, kind: Kind, data: bytes | memoryview, where: str, hint: str) -> None:
    """Chunks and derive-key objects must hash to their id; a manifest is covered by its
    check (its id is the id of the file it describes)."""
    if kind is Kind.MANIFEST:
        return
    actual = file_id(data) if kind is Kind.CHUNK else object_id(kind, bytes(data))
    if actual != oid:
        raise CorruptObjectError(
            f"corrupt object {oid.hex()}: its bytes hash to {short(actual)} in {where}",
            hint=hint,
        )


def check_schema(oid: ObjectId, kind: Kind, data: bytes, where: str) -> None:
    """Metadata decodes under its exact schema, every path field checked (mlvc.objects)."""
    what = f"{kind.label} {oid.hex()} in {where}"
    if kind is Kind.RUN:
        objects.Run.decode(data, what)
    elif kind is Kind.TREE:
        objects.Tree.decode(data, what)
    elif kind is Kind.MANIFEST:
        objects.Manifest.decode(data, what)
    elif kind is Kind.MANIFEST_NODE:
        objects.ManifestNode.decode(data, what)
