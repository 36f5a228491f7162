"""Where a store's objects lie (`Places`, the locating half of `ObjectStore`): looked
up in the index one at a time, or a slice at a time before a bulk read (`prefetch`,
held until the end of a `lookups` block)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from mlvc.errors import AmbiguousIdError, ObjectNotFoundError
from mlvc.ids import Kind, ObjectId, check_prefix, short
from mlvc.store import purged
from mlvc.store.entry import Entry
from mlvc.store.index import Index, Location

if TYPE_CHECKING:
    from mlvc.objects import Part

NOTED = 1 << 16  # places an adopted pack notes at most (a checkout's slice: batches.SLICE)
PLANNED = 1 << 16  # chunks whose places a checkout's check keeps for its restores (~25 MiB)
# An id mlvc recorded (in a run, tree, manifest or tag) that the index does not place:
# the index lost its row, or the packs lost the object.
MISSING_HINT = (
    "the store is damaged: run mlvc index rebuild (or mlvc fsck --repair); if it is"
    " still missing, restore .mlvc/packs from a backup"
)


class FilePlan(NamedTuple):
    """A large file's chunks in order and each one's place: what the check before a
    checkout looked up, kept for the file's restore (restore.write_file)."""

    size: int
    parts: list[Part]
    spots: dict[bytes, Location]


class Places:
    """Given `packs` and `index` by `ObjectStore`, which sets `_known` (id -> place, what
    `prefetch` found), `_plans` (file id -> FilePlan, `_planned` chunks in all) and
    `_noting` (how many `lookups` blocks are open) to empty."""

    packs: Path
    index: Index
    _known: dict[bytes, Location]
    _plans: dict[bytes, FilePlan]
    _planned: int
    _noting: int

    def resolve(self, text: str) -> ObjectId:
        """A full id or a unique prefix of at least four hex digits."""
        prefix = check_prefix(text)
        low = bytes.fromhex(
            prefix.ljust(64, "0") if len(prefix) % 2 == 0 else (prefix + "0").ljust(64, "0")
        )
        high = bytes.fromhex((prefix + "f" * 64)[:64])
        found = self.index.with_prefix(low, high, 10)
        if not found:
            purged.refuse(self.packs.parent, prefix)
            raise ObjectNotFoundError(
                f"object {prefix} not found",
                hint="check the id (mlvc ls-tree and mlvc cat-object show recorded ids)",
            )
        if len(found) > 1:
            raise AmbiguousIdError(prefix, [f.hex() for f in found])
        return ObjectId(found[0])

    def prefetch(self, oids: list[bytes]) -> None:
        """Look up many objects' locations in a few queries before reading them one by
        one (a checkout of 20,000 files would otherwise make 20,000 queries). Ids found
        already are not asked again."""
        known = self._known
        known.update(self.index.locate_many([o for o in oids if o not in known]))

    def kinds(self, oids: list[bytes]) -> dict[bytes, Kind]:
        """The kind of each id held: from what `prefetch` found, the rest from the index
        (a checkout asks for the ids whose places it has just looked up)."""
        found: dict[bytes, Kind] = {}
        rest = []
        for oid in oids:
            loc = self._known.get(oid)
            if loc is None:
                rest.append(oid)
            else:
                found[oid] = loc.entry.kind
        if rest:
            found.update(self.index.kinds(rest))
        return found

    def forget_prefetched(self) -> None:
        """Drop what `prefetch` found (a location costs ~400 bytes of memory)."""
        self._known.clear()

    @contextlib.contextmanager
    def lookups(self) -> Iterator[None]:
        """What `prefetch` finds (and `adopt_pack` notes, and `keep_plan` keeps) inside
        the block is dropped at its end, however it ends."""
        self._noting += 1
        try:
            yield
        finally:
            self._noting -= 1
            self.forget_prefetched()
            self._plans.clear()
            self._planned = 0

    def room_for_plan(self, chunks: int) -> bool:
        """Whether a plan of `chunks` chunks may be kept now: inside a `lookups` block,
        up to PLANNED chunks in all, and only until a file did not fit (`no_more_plans`):
        the files after it are checked as any object and their restores look up their
        own chunks, so only the manifest of the file that did not fit is read twice."""
        return self._noting > 0 and self._planned + chunks <= PLANNED

    def keep_plan(self, oid: bytes, plan: FilePlan) -> None:
        """Keep `plan` for file `oid` until the `lookups` block ends (see `room_for_plan`)."""
        self._plans[oid] = plan
        self._planned += len(plan.parts)

    def no_more_plans(self) -> None:
        """Keep no more plans in this `lookups` block."""
        self._planned = PLANNED + 1

    def plan_of(self, oid: bytes) -> FilePlan | None:
        """The plan `keep_plan` kept for file `oid`."""
        return self._plans.get(oid)

    def known(self, oid: bytes) -> Location | None:
        """A location `prefetch` found, without asking the index."""
        return self._known.get(oid)

    def locate(self, oid: bytes) -> Location:
        loc = self._known.get(oid) or self.index.locate(oid)
        if loc is None:
            purged.refuse(self.packs.parent, oid.hex())
            raise ObjectNotFoundError(f"object {short(oid)} not found", hint=MISSING_HINT)
        return loc

    def kind(self, oid: bytes) -> Kind:
        return self.locate(oid).entry.kind

    def note_places(self, pack: str, entries: Sequence[Entry]) -> None:
        """Inside a `lookups` block, the places of a pack's entries just indexed, as
        `prefetch` would find them (a checkout reads the pack it took next), up to NOTED."""
        if self._noting and len(self._known) + len(entries) <= NOTED:
            known = self._known
            for e in entries:
                if e.id not in known:
                    known[e.id] = Location(pack, e)
