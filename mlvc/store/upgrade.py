"""A store of repository format 1 is raised to format 2 before it takes its first
version-2 pack (docs/format.md, "Pack files")."""

from __future__ import annotations

import re
from pathlib import Path

from mlvc import config
from mlvc.store.fsutil import atomic_write, locked

# The line `init` and `Config.render` write under [core].
_FORMAT_1 = re.compile(r"(?m)^format = 1[ \t]*$")
_RAISED: set[Path] = set()  # stores already at format 2 in this process


def to_format_2(store_dir: Path) -> None:
    """Before a version-2 pack goes into the store at `store_dir` (`.mlvc/`): its config
    says format 2, so that an mlvc that reads only version-1 packs refuses the whole
    store (`repository format 2 … is not supported`, hint "upgrade mlvc") instead of
    taking the new packs for damaged ones (its `fsck --repair` would move them to
    quarantine/). Comments and layout are kept: only the format line changes. A
    directory without a config (a push's scratch packs) is left alone."""
    if store_dir in _RAISED:
        return
    path = store_dir / "config.toml"
    if not path.exists():
        return
    if config.load(path).format != config.FORMAT:
        with locked(store_dir / config.LOCK):  # `remote add` may be rewriting it
            if config.load(path).format == config.FORMAT:  # raised meanwhile: as it is
                _RAISED.add(store_dir)
                return
            text = path.read_text(encoding="utf-8")
            raised = _FORMAT_1.sub(f"format = {config.FORMAT}", text, count=1)
            if raised == text or config.parse(path, raised).format != config.FORMAT:
                # Laid out otherwise than `init` writes it: written whole from its values.
                raised = config.load(path).render()  # which writes format 2
            atomic_write(path, raised.encode())
    _RAISED.add(store_dir)
