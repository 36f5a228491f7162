"""`mlvc tag`: list, move, delete tags, and show their history."""

from __future__ import annotations

import os
import sys

from mlvc.cli import environ, render


def tag_command(
    name: str | None,
    run_ref: str | None,
    delete: bool,
    history: bool,
    message: str,
    json: bool,
) -> None:
    from mlvc import clock
    from mlvc.errors import MlvcError
    from mlvc.lineage.resolve import resolve_run
    from mlvc.refs import Tags

    repo = environ.repo()
    try:
        tags = Tags(repo.dir)
        if name is None:
            listing = {n: tags.get(n) for n in tags.names()}
            if json:
                render.emit_json({"tags": listing})
            else:
                for n, oid in listing.items():
                    sys.stdout.write(f"{render.shown(n)}\t{oid.hex() if oid else '-'}\n")
            return
        if history:
            moves = tags.history(name)
            if json:
                render.emit_json({"tag": name, "history": moves})
                return
            lines: list[list[render.Segment]] = []
            for m in moves:
                old = m.old.hex()[:12] if m.old else "(new)"
                new = m.new.hex()[:12] if m.new else "(deleted)"
                note = f"  {m.message}" if m.message else ""
                lines.append([(f"{render.when(m.time)}  {m.user}  {old} -> {new}{note}", None)])
            render.print_lines(lines)
            return
        current = tags.get(name)
        from mlvc.capture.owner import os_user

        user = os_user(os.environ)
        if delete:
            if current is None:
                raise MlvcError(f"tag {name} does not exist", hint="'mlvc tag' lists tags")
            move = tags.move(name, None, current, user, clock.now(), message)
        else:
            target = resolve_run(repo, run_ref or "latest")
            move = tags.move(name, target, current, user, clock.now(), message)
    finally:
        repo.close()
    if json:
        render.emit_json({"tag": name, "move": move})
    elif move.new is None:
        sys.stdout.write(
            f"deleted tag {render.shown(name)} (was {move.old.hex()[:12] if move.old else '-'})\n"
        )
    else:
        was = f" (was {move.old.hex()[:12]})" if move.old else ""
        sys.stdout.write(f"tag {render.shown(name)} -> {move.new.hex()[:12]}{was}\n")
