"""`mlvc tag`: list, move, delete tags, and show their history."""

from __future__ import annotations

import os
import sys
from typing import Any

from mlvc.cli import environ, render
from mlvc.ids import short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mlvc.porcelain.tag import TagsResult


def tag_command(
    name: str | None,
    run_ref: str | None,
    delete: bool,
    history: bool,
    message: str,
    json: bool,
) -> None:
    from mlvc.capture.owner import os_user
    from mlvc.porcelain import tag as porcelain

    repo = environ.repo()
    try:
        if name is None:
            _show_tags(porcelain.tags(repo), json)
            return
        if history:
            _show_history(name, porcelain.history(repo, name), json)
            return
        move = porcelain.tag(repo, name, run_ref, os_user(os.environ), message, delete)
    finally:
        repo.close()
    if json:
        render.emit_json({"tag": name, "move": move})
    elif move.new is None:
        sys.stdout.write(
            f"deleted tag {render.shown(name)} (was {short(move.old) if move.old else '-'})\n"
        )
    else:
        was = f" (was {short(move.old)})" if move.old else ""
        sys.stdout.write(f"tag {render.shown(name)} -> {short(move.new)}{was}\n")


def _show_tags(listing: TagsResult, json: bool) -> None:
    """Damaged tags in the list, in name order, with what is wrong instead of a run."""
    if json:
        render.emit_json(listing)
        return
    rows = {name: oid.hex() for name, oid in listing.tags.items()}
    rows.update({name: f"damaged: {problem}" for name, problem in listing.damaged.items()})
    for name in sorted(rows):
        sys.stdout.write(f"{render.shown(name)}\t{render.shown(rows[name])}\n")


def _show_history(name: str, moves: list[Any], json: bool) -> None:
    if json:
        render.emit_json({"tag": name, "history": moves})
        return
    lines: list[list[render.Segment]] = []
    for m in moves:
        old = short(m.old) if m.old else "(new)"
        new = short(m.new) if m.new else "(deleted)"
        note = f"  {m.message}" if m.message else ""
        lines.append([(f"{render.when(m.time)}  {m.user}  {old} -> {new}{note}", None)])
    render.print_lines(lines)
