"""GroupCommitter: each write is reported before its fsync starts, so a leader can send while it syncs."""

from __future__ import annotations

import asyncio

from replog.node.committer import GroupCommitter
from replog.storage.memory import MemoryLog
from replog.types import Entry


def test_a_write_is_reported_before_its_fsync_and_the_fsync_after() -> None:
    events: list[tuple[str, int, int]] = []
    store = MemoryLog("log-A")

    def on_written(index: int) -> None:
        events.append(("written", index, store.synced_index))

    def on_synced(index: int) -> None:
        events.append(("synced", index, store.synced_index))

    async def main() -> None:
        committer = GroupCommitter(store, on_synced, lambda index, error: None, on_written=on_written)
        committer.start()
        committer.append([Entry(1, b"a"), Entry(2, b"b")])
        await committer.wait_synced()
        committer.append([Entry(3, b"c")])
        await committer.wait_synced()
        await committer.stop()

    asyncio.run(main())
    # Written 1..2 while nothing was synced yet, then synced; the same for 3.
    assert events == [("written", 2, 0), ("synced", 2, 2), ("written", 3, 2), ("synced", 3, 3)]
