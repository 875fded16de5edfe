"""SimDisk and SimCommitter: a node's log with simulated fsync latency, crashes and a full disk.

Why a subclass of the production MemoryLog: the simulator exercises the same storage logic the
shells use (continuity checks on append, reads bounded by bytes, a crash losing the unsynced
tail, after FoundationDB's AsyncFileNonDurable). What the sim adds is time and failure.

A leader reads what it sends through `read_for_follower`, as from a SegmentLog: half of those reads
(drawn from the disk's own seeded stream, so the world's schedule is the same as without it) come back
as a RecordRun, the records a leader reading past its tail cache ships as they lie on disk, and go
through the real codec and the real record checks on their way to the follower.

SimCommitter mirrors `node/committer.py`'s GroupCommitter step for step: `append` only queues
(entries into one list, a run as a piece of its own); a commit step (a separate event, like the commit
task's next turn) writes the queued pieces in order, reports a failed write through
`on_write_failed(store.last_index, error)` and a good one through `on_written(store.last_index)`, then
runs one fsync whose completion syncs all that was written and calls `on_synced`. A crash drops the
queue and bumps the epoch, so a commit step or fsync in flight never completes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from replog.errors import StorageError, StorageFull
from replog.node.committer import Piece, enqueue, write_pieces
from replog.storage.memory import MemoryLog
from replog.storage.records import encode_records
from replog.storage.runs import check_run
from replog.types import Entry, RecordRun

from .invariants import InvariantViolation

if TYPE_CHECKING:
    from .world import World

__all__ = ["SimCommitter", "SimDisk"]

_READ_ALL_BYTES = 1 << 62


class SimDisk(MemoryLog):
    def __init__(self, world: World, name: str, log_id: str = "") -> None:
        super().__init__(log_id)
        self._world = world
        self.name = name
        self.slow_until_ms = 0
        self.slow_extra_ms = 0
        self.full_until_ms = 0  # While set, appends fail like a full disk (the store is left unchanged).
        self.version = 0  # Bumped on every change, so the invariant checker can skip idle disks.
        self._runs_rng = random.Random(f"{world.seed}-{name}-runs")

    def read_for_follower(self, lo: int, hi: int, bytes_max: int) -> list[Entry] | RecordRun:
        entries = self.read(lo, hi, bytes_max)
        if not entries or self._runs_rng.random() < 0.5:
            return entries
        run = check_run(b"".join(r.head + r.payload for r in encode_records(entries)), entries[0].index)
        if isinstance(run, str):
            raise InvariantViolation(f"{self.name}: entries {lo}.. do not make a sound run of records: {run}")
        return run

    def append(self, entries: Sequence[Entry]) -> None:
        if self._world.now_ms < self.full_until_ms:
            raise StorageFull(f"{self.name}: disk full (simulated)")
        super().append(entries)
        self.version += 1

    def sync(self) -> int:
        self.version += 1
        return super().sync()

    def crash(self) -> None:
        super().crash()
        self.version += 1

    def entries(self, lo: int = 1, hi: int | None = None) -> list[Entry]:
        return self.read(lo, self.last_index if hi is None else hi, _READ_ALL_BYTES)

    def sync_delay_ms(self) -> int:
        low, high = self._world.config.disk_sync_ms
        delay = self._world.rng.randint(low, high)
        if self._world.now_ms < self.slow_until_ms:
            delay += self._world.rng.randint(0, self.slow_extra_ms)
        return delay


class SimCommitter:
    def __init__(
        self,
        world: World,
        disk: SimDisk,
        on_synced: Callable[[int], None],
        on_write_failed: Callable[[int, StorageError], None],
        on_idle: Callable[[], None] = lambda: None,
        on_written: Callable[[int], None] = lambda index: None,
    ) -> None:
        self._world = world
        self._disk = disk
        self._on_synced = on_synced
        self._on_write_failed = on_write_failed
        self._on_idle = on_idle
        self._on_written = on_written
        self._pending: list[Piece] = []
        self._busy = False
        self._epoch = 0

    @property
    def pending(self) -> int:
        """Entries queued but not yet written."""
        return sum(len(piece) for piece in self._pending)

    @property
    def idle(self) -> bool:
        """Everything queued so far is written and synced (GroupCommitter.wait_synced returns)."""
        return not self._busy

    def append(self, entries: Sequence[Entry] | RecordRun) -> None:
        enqueue(self._pending, entries)
        if not self._busy:
            self._busy = True
            self._world.schedule(0, f"{self._disk.name} commit", self._step, self._epoch)

    def crash(self) -> None:
        """The process died: the queue is gone and nothing in flight completes."""
        self._pending.clear()
        self._busy = False
        self._epoch += 1

    def _step(self, epoch: int) -> None:
        if epoch != self._epoch:
            return
        disk = self._disk
        if self._pending:
            pieces, self._pending = self._pending, []
            try:
                write_pieces(disk, pieces)
                self._world.stats["record runs stored"] += sum(isinstance(piece, RecordRun) for piece in pieces)
            except StorageError as exc:
                self._world.note(disk.name, f"write from {disk.last_index + 1} failed: {exc}")
                self._on_write_failed(disk.last_index, exc)
            except AssertionError as exc:  # check_append: the batch does not continue the log.
                raise InvariantViolation(
                    f"no holes: {disk.name} was asked to store a batch that leaves a gap: {exc}"
                ) from None
            else:
                self._on_written(disk.last_index)
                if epoch != self._epoch:
                    return  # The handler crashed the node (a chaos hook): nothing more runs in this life.
        if disk.synced_index < disk.last_index:
            self._world.schedule(disk.sync_delay_ms(), f"{disk.name} fsync done", self._synced, epoch)
            return
        if self._pending:  # Queued by the write-failure handler: go round again, as the loop does.
            self._world.schedule(0, f"{disk.name} commit", self._step, epoch)
            return
        self._busy = False
        self._on_idle()

    def _synced(self, epoch: int) -> None:
        if epoch != self._epoch:
            return
        self._on_synced(self._disk.sync())
        self._step(epoch)
