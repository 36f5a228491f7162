"""Packs in the version-1 layout, as mlvc wrote them before version 2: a 64-byte entry
header before each entry's stored bytes. Tests make them from version-2 packs to check
that they are still read, verified and pulled."""

from __future__ import annotations

import os
from pathlib import Path

import blake3

from mlvc.store.pack import (
    END,
    ENTRY,
    ENTRY_MAGIC,
    FOOTER,
    FOOTER_MAGIC,
    HEADER,
    MAGIC,
    ROW,
    read_table,
    read_trailer,
)


def as_version_1(path: Path) -> Path:
    """The pack at `path` rewritten in the version-1 layout under its new name (BLAKE3
    of its new table), read-only; the old file removed. Returns the new path."""
    data = path.read_bytes()
    out = bytearray(HEADER.pack(MAGIC, 1, 0))
    table = bytearray()
    for e in read_table(path):
        out += ENTRY.pack(ENTRY_MAGIC, e.kind, e.codec, 0, e.id, e.raw_len, e.stored_len, e.check)
        table += ROW.pack(e.id, e.kind, e.codec, len(out), e.raw_len, e.stored_len, e.check)
        out += data[e.offset : e.offset + e.stored_len]
    digest = blake3.blake3(bytes(table)).digest()
    count = len(table) // ROW.size
    out += table + FOOTER.pack(FOOTER_MAGIC, 1, count, len(out), digest, END)
    new = path.with_name(f"{digest.hex()}.pack")
    new.write_bytes(bytes(out))
    os.chmod(new, 0o444)
    path.unlink()
    return new


def remote_as_version_1(pack: Path) -> Path:
    """`as_version_1` for a pack of a directory remote, with its index file."""
    pack.with_suffix(".idx").unlink()
    new = as_version_1(pack)
    new.with_suffix(".idx").write_bytes(read_trailer(new))
    return new
