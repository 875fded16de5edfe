"""Group commit: one write per event-loop turn's appends, one sync for everything pending.

`append` writes at once (so reads and replication reading the log see it); a single sync
task then syncs whatever has been written, in a worker thread for a disk store so the event
loop keeps accepting appends meanwhile. Appends that arrive during one fsync are all covered
by the next: the batch size follows the load, not a timer.

A failed fsync is not retried: after a failed fsync the kernel may have dropped the dirty
pages (PostgreSQL's "fsyncgate"), so the node cannot know what is durable and stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence

from replog.errors import StorageError
from replog.storage.base import LogStore
from replog.storage.memory import MemoryLog
from replog.types import Entry

__all__ = ["GroupCommitter"]

log = logging.getLogger("replog.storage")


class GroupCommitter:
    def __init__(self, store: LogStore, on_synced: Callable[[int], None]) -> None:
        self._store = store
        self._on_synced = on_synced
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._in_thread = not isinstance(store, MemoryLog)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def append(self, entries: Sequence[Entry]) -> None:
        """Write now, sync soon. Raises StorageError (the store is left unchanged)."""
        self._store.append(entries)
        self._idle.clear()
        self._wake.set()

    async def wait_synced(self) -> None:
        """Return once everything appended so far is synced."""
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._store.synced_index < self._store.last_index:
                synced = await self._sync()
                self._on_synced(synced)
            if not self._wake.is_set():
                self._idle.set()

    async def _sync(self) -> int:
        try:
            if self._in_thread:
                return await asyncio.to_thread(self._store.sync)
            return self._store.sync()
        except (OSError, StorageError) as exc:
            log.critical("fsync failed (%s): what is durable is unknown, stopping the node", exc)
            os._exit(70)
