"""Group commit: one write and one sync for everything that arrived since the last one.

`append` only queues. The commit task then writes all queued entries in one `store.append` (a queued
RecordRun, see below, in one `store.append_run` of its own) and syncs them with one fsync, on a thread of
its own for a disk store (sync_thread.py says why not the default executor), so the event loop keeps
accepting appends meanwhile. Whatever arrives during one fsync is covered by the next: the batch size
follows the load, not a timer, and there is no per-message syscall.

Entries queue up as one list; a RecordRun (catch-up records as they lay on the leader's disk) queues as
a piece of its own and is written as it came, in order with the entries around it. Only followers are
given runs, so a leader's queue is always one piece.

`on_written(last_index)` is told after each successful write, before its fsync starts: a failover
leader sends those entries to its followers while its own fsync runs.

A failed write (a full disk) leaves the store as it was before the piece that failed (pieces queued
before it stay written, and are synced next), and the owner is told through
`on_write_failed(written_index, error)`, the index the store now ends at, so it can fail the requests whose
entries were lost or, as a follower, resume from there.
A failed fsync is not retried: after one the kernel may have dropped the dirty pages
(PostgreSQL's "fsyncgate"), so the node cannot know what is durable, and it stops. So does any other
error out of the commit task (a bug): every role waits on this task, and a node whose committer died
would otherwise hang silently, answering nothing while it looks alive. A restart recovers from disk.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence

from replog.errors import StorageError
from replog.node.sync_thread import SyncThread
from replog.storage.base import LogStore
from replog.storage.memory import MemoryLog
from replog.types import Entry, RecordRun

__all__ = ["GroupCommitter", "Piece", "enqueue", "write_pieces"]

log = logging.getLogger("replog.storage")

Piece = list[Entry] | RecordRun


def enqueue(pending: list[Piece], entries: Sequence[Entry] | RecordRun) -> None:
    """Entries join the list at the queue's end; a run is a piece of its own, written as it came."""
    if isinstance(entries, RecordRun):
        pending.append(entries)
    elif pending and isinstance(pending[-1], list):
        pending[-1].extend(entries)
    else:
        pending.append(list(entries))


def write_pieces(store: LogStore, pieces: Sequence[Piece]) -> None:
    """Write queued pieces in order, one write each; a failure leaves the earlier ones written."""
    for piece in pieces:
        if isinstance(piece, RecordRun):
            store.append_run(piece)
        else:
            store.append(piece)


class GroupCommitter:
    def __init__(
        self,
        store: LogStore,
        on_synced: Callable[[int], None],
        on_write_failed: Callable[[int, StorageError], None],
        on_sync_seconds: Callable[[float], None] | None = None,
        on_written: Callable[[int], None] = lambda index: None,
    ) -> None:
        self._store = store
        self._on_synced = on_synced
        self._on_written = on_written
        self._on_write_failed = on_write_failed
        self._on_sync_seconds = on_sync_seconds
        self._pending: list[Piece] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        # A disk store's fsync blocks, so it runs on a thread; a MemoryLog's sync is a counter.
        self._sync_thread = None if isinstance(store, MemoryLog) else SyncThread(store.sync, "fsync")

    def start(self) -> None:
        if self._sync_thread is not None:
            self._sync_thread.start()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._sync_thread is not None:  # also here: a task cancelled before it ran has no finally
            self._sync_thread.stop()

    def append(self, entries: Sequence[Entry] | RecordRun) -> None:
        """Queue entries that continue the log; they are written and synced soon, together."""
        enqueue(self._pending, entries)
        self._idle.clear()
        self._wake.set()

    async def wait_synced(self) -> None:
        """Return once everything queued so far is written and synced."""
        await self._idle.wait()

    async def _run(self) -> None:
        try:
            await self._commit_forever()
        except asyncio.CancelledError:
            raise
        except BaseException:
            log.critical("group commit failed: stopping the node (a restart recovers from disk)", exc_info=True)
            logging.shutdown()
            os._exit(70)
        finally:  # however the task ends (asyncio.run cancels it on the way out too), its thread ends with it
            if self._sync_thread is not None:
                self._sync_thread.stop()

    async def _commit_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending or self._store.synced_index < self._store.last_index:
                if self._pending:
                    self._write()
                if self._store.synced_index < self._store.last_index:
                    self._on_synced(await self._sync())
            if not self._wake.is_set():
                self._idle.set()

    def _write(self) -> None:
        pieces, self._pending = self._pending, []
        first = self._store.last_index + 1
        try:
            write_pieces(self._store, pieces)
        except StorageError as exc:
            # What was written before the failed piece stays written: it continues the log, and on_written
            # below is not told, so on_write_failed's index is where the owner resumes.
            log.error("cannot write entries from %d: %s", self._store.last_index + 1, exc)
            self._on_write_failed(self._store.last_index, exc)
            return
        if self._store.last_index >= first:
            self._on_written(self._store.last_index)

    async def _sync(self) -> int:
        started = time.perf_counter()
        try:
            synced = self._store.sync() if self._sync_thread is None else await self._sync_thread.run()
        except (OSError, StorageError) as exc:
            log.critical("fsync failed (%s): what is durable is unknown, stopping the node", exc)
            os._exit(70)
        if self._on_sync_seconds is not None:
            self._on_sync_seconds(time.perf_counter() - started)
        return synced
