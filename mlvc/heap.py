"""The cyclic garbage collector, paused over bulk work.

A command that walks, hashes or writes many files makes a few objects per file and keeps
many of them (the plan, the rows) until it ends. Each full pass of the collector walks
every live object: over a 200,000-file `add`, its ten full passes took 0.8 s, and in a
process that has forked a worker, each page a pass touches is copied. The work makes next
to no cyclic garbage (472 objects for those 200,000 files), so the collector is paused
while it runs; what garbage there is goes at the first pass after it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_collector() -> Iterator[None]:
    """No collection inside the block (as a decorator too); nested blocks leave the
    collector as the outermost one found it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
