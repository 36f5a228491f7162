"""Tags between a store and a remote: `fetch` takes the remote's, `push` sends ours.

A tag moves only forward along its recorded history: fetch takes a remote tag this
store lacks, or one whose history leads from this store's value to the remote's; push
moves a remote tag that this store's history leads on from (by compare-and-swap, so a
teammate's move in between is never overwritten). A tag that went another way on each
side is left as it is on both and reported: the person moves it, knowing both.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlvc import clock
from mlvc.errors import RefConflictError, RemoteError
from mlvc.ids import ObjectId
from mlvc.repo import Repo
from mlvc.store.refs import TagMove, Tags
from mlvc.store.remote import Remote


@dataclass(frozen=True)
class TagUpdate:
    name: str
    run: ObjectId
    # "new", "updated", "diverged" (left as it is on both sides), "unknown run" (fetch:
    # its run is not on the remote), "rejected" (push: moved meanwhile, or refs refused)
    status: str
    reason: str = ""


def fetch_tags(repo: Repo, remote: Remote) -> list[TagUpdate]:
    """Each remote tag this store lacks, or that moved on from this store's value."""
    tags = Tags(repo.dir)
    updates = []
    for name in remote.tag_names():
        value = remote.tag(name)
        local = tags.get(name)
        if value is None or value == local:
            continue
        if not repo.index.history.has_run(value):
            updates.append(TagUpdate(name, value, "unknown run"))
            continue
        history = remote.tag_history(name)
        if local is None or _moved_on(history, local, value):
            tags.adopt(name, value, local, history)
            updates.append(TagUpdate(name, value, "new" if local is None else "updated"))
        else:
            updates.append(TagUpdate(name, value, "diverged"))
    return updates


def _moved_on(history: list[TagMove], frm: ObjectId, to: ObjectId) -> bool:
    """Whether a chain of recorded moves leads from `frm` to `to`."""
    nexts: dict[bytes, set[bytes]] = {}
    for move in history:
        if move.old is not None and move.new is not None:
            nexts.setdefault(move.old, set()).add(move.new)
    seen: set[bytes] = {frm}
    stack: list[bytes] = [frm]
    while stack:
        at = stack.pop()
        if at == to:
            return True
        fresh = nexts.get(at, set()) - seen
        seen |= fresh
        stack.extend(fresh)
    return False


def push_tags(
    repo: Repo, remote: Remote, user: str, names: list[str] | None = None
) -> list[TagUpdate]:
    """Send each local tag (of `names`, else every one) the remote lacks or that this
    store moved on from the remote's value. Call once the tags' runs are on the remote."""
    tags = Tags(repo.dir)
    updates = []
    for name in tags.names() if names is None else names:
        local = tags.get(name)
        current = remote.tag(name)
        if local is None or current == local:
            continue
        history = tags.history(name)
        if current is not None and not _moved_on(history, current, local):
            updates.append(TagUpdate(name, local, "diverged"))
            continue
        last = next((m for m in reversed(history) if m.new == local), None)
        move = TagMove(
            last.time if last else clock.now(),
            last.user if last else user,
            current,
            local,
            last.message if last else "",
        )
        try:
            remote.move_tag(name, move)
        except (RefConflictError, RemoteError) as exc:
            updates.append(TagUpdate(name, local, "rejected", exc.message))
            continue
        updates.append(TagUpdate(name, local, "new" if current is None else "updated"))
    return updates
