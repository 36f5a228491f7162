"""What an object refers to, and everything a set of runs reaches (their Merkle closure).

A run names objects in its inputs and outputs, and in its free sections too (the code
patch, the logs, the environment's distribution list, metric series): every 32-byte
value in a run is a candidate id, and counts when the store knows an object by it. Trees
name their entries; manifests and manifest nodes name their parts. Used by `fetch` (the
metadata of new runs), `pull` (the data a checkout needs) and, later, `gc`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from mlvc import codec, objects
from mlvc.ids import ID_LEN, Kind, ObjectId

ReadMeta = Callable[[bytes], bytes]

METADATA = frozenset({Kind.RUN, Kind.TREE, Kind.MANIFEST, Kind.MANIFEST_NODE})


def _ids_in(value: object) -> Iterator[bytes]:
    """Every 32-byte bytes value inside a decoded structure (iterative: no recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            if len(item) == ID_LEN:
                yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def references(kind: Kind, data: bytes) -> list[ObjectId]:
    """The ids a metadata object's bytes name (unverified candidates for a run)."""
    if kind is Kind.CHUNK:
        return []
    if kind is Kind.TREE:
        return [e.id for e in objects.Tree.decode(data).entries]
    if kind is Kind.MANIFEST:
        return [p.id for p in objects.Manifest.decode(data).parts]
    if kind is Kind.MANIFEST_NODE:
        return [p.id for p in objects.ManifestNode.decode(data).parts]
    return [ObjectId(oid) for oid in _ids_in(codec.decode(data, "run"))]


def closure(
    roots: Iterable[bytes],
    kinds_of: Callable[[list[bytes]], Mapping[bytes, Kind]],
    read: ReadMeta,
    follow_runs: bool = True,
) -> tuple[dict[ObjectId, Kind], set[ObjectId]]:
    """Every object reachable from `roots` whose kind `kinds_of` knows, with its kind;
    and the ids it does not know (data not here yet, a script's file id that was never
    stored, a 32-byte value that is no id). `read` gives a metadata object's verified
    bytes. Level by level: `kinds_of` answers for many ids at once (one index query per
    500 ids, so a 2 GiB file's 30,000 chunks cost a few queries). With
    `follow_runs=False` a run met inside another (a producer) is not entered."""
    first = {ObjectId(r) for r in roots}
    found: dict[ObjectId, Kind] = {}
    unknown: set[ObjectId] = set()
    frontier: set[ObjectId] = set(first)
    while frontier:
        kinds = kinds_of(list(frontier))
        following: set[ObjectId] = set()
        for oid in frontier:
            kind = kinds.get(oid)
            if kind is None:
                unknown.add(oid)
                continue
            found[oid] = kind
            if kind in METADATA and (follow_runs or kind is not Kind.RUN or oid in first):
                following.update(references(kind, read(oid)))
        frontier = {oid for oid in following if oid not in found and oid not in unknown}
    return found, unknown
