"""The storage engine: chunker, packs, SQLite index and the object store that composes them."""
