"""When a stat-cache entry may stand in for reading the file: the racy-clean rule."""

from __future__ import annotations

from mlvc.store.index import StatRow
from mlvc.workspace.scan import FileStat

# A file modified within this window before it was hashed may be modified again without
# its mtime changing (timestamps come from a coarse clock, a jiffy of up to 10 ms behind
# the fine clock we read), so its cache entry is not trusted. File systems that store
# whole seconds (or FAT's two) need the wider window.
RACY_NS = 50_000_000
RACY_COARSE_NS = 2_000_000_000


def is_clean(row: StatRow | None, st: FileStat) -> bool:
    """True when the cached id can be trusted for this stat without reading the file."""
    return (
        row is not None
        and row.size == st.size
        and row.mtime_ns == st.mtime_ns
        and row.ino == st.ino
        and row.ctime_ns == st.ctime_ns
        and st.ctime_ns < row.hashed_ns - racy_window(st.ctime_ns)
    )


def racy_window(mtime_ns: int) -> int:
    return RACY_COARSE_NS if mtime_ns % 1_000_000_000 == 0 else RACY_NS
