"""GroupCommitter: each write is reported before its fsync starts, so a leader can send while it syncs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from replog.node.committer import GroupCommitter
from replog.storage.memory import MemoryLog
from replog.storage.segment import SegmentLog
from replog.types import Entry, RecordRun


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


def test_entries_and_runs_queued_together_are_written_in_order_and_synced_once(tmp_path: Path) -> None:
    leader = SegmentLog.open(tmp_path / "leader", cache_bytes_max=0)
    leader.append([Entry(i, b"r%d" % i, None, 1) for i in range(1, 6)])
    run = leader.read_for_follower(3, 4, 1 << 20)
    assert isinstance(run, RecordRun)
    store = SegmentLog.open(tmp_path / "follower")
    synced: list[int] = []

    async def main() -> None:
        committer = GroupCommitter(store, synced.append, lambda index, error: None)
        committer.start()
        committer.append([Entry(1, b"r1", None, 1)])
        committer.append([Entry(2, b"r2", None, 1)])
        committer.append(run)
        committer.append([Entry(5, b"r5", None, 1)])
        await committer.wait_synced()
        await committer.stop()

    asyncio.run(main())
    assert store.read(1, 5, 1 << 20) == [Entry(i, b"r%d" % i, None, 1) for i in range(1, 6)]
    assert synced == [5]
