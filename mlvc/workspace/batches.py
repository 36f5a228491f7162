"""Writing many recorded files at once (`Materializer.write_many`): small files read from
the packs a batch at a time and written on threads, and with thousands of files, half of
them by a forked worker process. One file is written by `Materializer.write`."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from mlvc.forked import stream, worth_forking
from mlvc.ids import Kind
from mlvc.store.objectstore import ObjectStore
from mlvc.store.restore import read_small
from mlvc.workspace.records import RecordedFile, WrittenFile

if TYPE_CHECKING:
    from mlvc.forked import Send

Progress = Callable[[int], None]
WORKERS = 2
BATCH = 2048  # small files read from the packs at a time (a few MiB)
SLICE = 1 << 16  # files whose locations are looked up at a time


class ManyFiles:
    """The batching half of `Materializer` (workspace/materialize.py), which gives it
    `store`, the writer's `_pid`, and `write`."""

    store: ObjectStore
    _pid: int
    _threads: int = WORKERS

    def write(
        self, want: RecordedFile, progress: Progress | None = None, data: bytes | None = None
    ) -> WrittenFile | None:
        raise NotImplementedError

    def write_many(
        self, wants: list[RecordedFile], progress: Progress | None = None
    ) -> list[WrittenFile | None]:
        """`write` for many files, SLICE at a time (their locations looked up together,
        then forgotten: memory does not grow with the file count). Small files are read
        from the packs a batch at a time (neighbours in one call) and written on WORKERS
        threads: creating, writing and renaming a small file is mostly system-call time,
        which threads overlap. With many small files, a forked worker process takes the
        second half of each slice: the Python around each system call then runs on two
        cores, and each process writes on one thread (two processes already fill two
        cores; a second thread would only add switching, ~5 % more CPU)."""
        if progress is not None:
            progress = _locked(progress)
        results: list[WrittenFile | None] = []
        for start in range(0, len(wants), SLICE):
            part = wants[start : start + SLICE]
            self.store.prefetch(file_ids(part))
            try:
                results += self._write_slice(part, progress)
            finally:
                self.store.forget_prefetched()
        return results

    def _write_slice(
        self, wants: list[RecordedFile], progress: Progress | None
    ) -> list[WrittenFile | None]:
        if not worth_forking(len(wants)):
            return self._write_all(wants, progress)
        # Known (prefetched) to be one chunk: the worker must never touch the index (an
        # SQLite connection does not survive a fork). Inline: 20,000 calls cost 12 ms.
        known, chunk = self.store.known, Kind.CHUNK
        small = [
            i
            for i, w in enumerate(wants)
            if w.kind == "file" and (at := known(w.id)) is not None and at.entry.kind is chunk
        ]
        handed = small[len(small) // 2 :]
        theirs = [wants[i] for i in handed]
        mine = set(handed)
        own = [w for i, w in enumerate(wants) if i not in mine]
        reply: list[WrittenFile | None] = []

        def take(rows: list[list[int] | None]) -> None:
            landed = [None if row is None else WrittenFile(*row) for row in rows]
            if progress is not None:
                done = theirs[len(reply) : len(reply) + len(landed)]
                progress(sum(max(w.size, 0) for w, st in zip(done, landed, strict=True) if st))
            reply.extend(landed)

        self._threads = 1  # in both processes
        try:
            written, whole = stream(
                lambda poll: self._write_all(own, progress, poll),
                self._forked_write(theirs),
                take,
                die_with_parent=True,  # it writes too: it must not outlive the lock
            )
        finally:
            self._threads = WORKERS
        if not whole:  # no process to be had, or it died: write the rest of its share here
            reply += self._write_all(theirs[len(reply) :], progress)
        results = dict(zip((id(w) for w in own), written, strict=True))
        results.update(zip((id(w) for w in theirs), reply, strict=True))
        return [results[id(w)] for w in wants]

    def _forked_write(self, wants: list[RecordedFile]) -> Callable[[Send], None]:
        """The forked process's share, its results sent a batch at a time: its temporary
        names carry its own pid, so they never meet the parent's in a directory both
        write to."""

        def work(send: Send) -> None:
            self._pid = os.getpid()
            for start in range(0, len(wants), BATCH):
                landed = self._write_all(wants[start : start + BATCH], None)
                send([None if st is None else list(st) for st in landed])

        return work

    def _write_all(
        self,
        wants: list[RecordedFile],
        progress: Progress | None,
        poll: Callable[[], None] | None = None,
    ) -> list[WrittenFile | None]:
        """`poll`: called between batches (to take what a forked writer sent meanwhile)."""
        results: list[WrittenFile | None] = []
        for start in range(0, len(wants), BATCH):
            batch = wants[start : start + BATCH]
            small = read_small(self.store, [w.id for w in batch if w.kind == "file"])
            results += self._write_batch(batch, small, progress)
            if poll is not None:
                poll()
        return results

    def _write_batch(
        self, batch: list[RecordedFile], small: dict[bytes, bytes], progress: Progress | None
    ) -> list[WrittenFile | None]:
        results: list[WrittenFile | None] = [None] * len(batch)
        failed: list[BaseException] = []

        share = -(-len(batch) // self._threads)

        def work(first: int) -> None:
            for i in range(first, min(first + share, len(batch))):
                if failed:
                    return
                want = batch[i]
                data = small.get(want.id) if want.kind == "file" else None
                try:
                    results[i] = self.write(want, progress, data)
                    if data is not None and progress is not None:
                        progress(len(data))
                except BaseException as exc:
                    failed.append(exc)
                    return

        threads = [threading.Thread(target=work, args=(n * share,)) for n in range(self._threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failed:
            raise failed[0]
        return results


def file_ids(wants: list[RecordedFile]) -> list[bytes]:
    """The content ids of the files among `wants` (a slice's, for `prefetch`)."""
    return [w.id for w in wants if w.kind == "file"]


def first_slice(wants: list[RecordedFile]) -> list[bytes]:
    """The ids `write_many` looks up first: a caller that wants them sooner (to check
    what is here) looks them up by this, and `write_many` does not ask again."""
    return file_ids(wants[:SLICE])


def _locked(progress: Progress) -> Progress:
    lock = threading.Lock()

    def report(n: int) -> None:
        with lock:
            progress(n)

    return report
