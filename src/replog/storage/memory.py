"""MemoryLog: the in-memory LogStore, used by `storage: memory` and by the simulator.

`crash()` drops everything past `synced_index`, like a disk losing its page cache
(FoundationDB's AsyncFileNonDurable idea), so the simulator can test what fsync promises.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from replog.storage.base import HardState, check_append, check_hard_state
from replog.storage.epochs import EpochTable
from replog.storage.runs import run_entries
from replog.types import Entry, RecordRun

__all__ = ["MemoryLog"]


class MemoryLog:
    def __init__(self, log_id: str = "", *, sync_on_append: bool = False) -> None:
        self._log_id = log_id
        self._entries: list[Entry] = []
        self._synced_index = 0
        self._sync_on_append = sync_on_append
        self._epochs = EpochTable()
        self._hard_state: HardState = (0, None)  # "durable" at once: crash() keeps it

    @classmethod
    def fresh(cls) -> MemoryLog:
        """A new log with its own identity (what a master creates on first start)."""
        return cls(uuid.uuid4().hex)

    @property
    def log_id(self) -> str:
        return self._log_id

    def set_log_id(self, log_id: str) -> None:
        self._log_id = log_id

    @property
    def hard_state(self) -> HardState:
        return self._hard_state

    def set_hard_state(self, term: int, voted_for: int | None) -> None:
        check_hard_state(self._hard_state, term, voted_for)
        self._hard_state = (term, voted_for)

    @property
    def last_index(self) -> int:
        return len(self._entries)

    @property
    def synced_index(self) -> int:
        return self._synced_index

    def append(self, entries: Sequence[Entry]) -> None:
        check_append(self.last_index, entries, self._epochs.last_term)
        self._entries.extend(entries)
        self._epochs.extend(entries)
        if self._sync_on_append:
            self._synced_index = self.last_index

    def append_run(self, run: RecordRun) -> None:
        self.append(run_entries(run))

    def sync(self) -> int:
        self._synced_index = self.last_index
        return self._synced_index

    def read(self, lo: int, hi: int, bytes_max: int) -> list[Entry]:
        lo = max(lo, 1)
        hi = min(hi, self.last_index)
        out: list[Entry] = []
        total = 0
        for entry in self._entries[lo - 1 : hi]:
            if out and total + entry.size_bytes() > bytes_max:
                break
            out.append(entry)
            total += entry.size_bytes()
        return out

    def read_for_follower(self, lo: int, hi: int, bytes_max: int) -> list[Entry]:
        return self.read(lo, hi, bytes_max)

    def truncate_after(self, index: int) -> None:
        if index < 0:
            raise AssertionError(f"truncate_after({index}): an index is >= 0")
        del self._entries[index:]
        self._synced_index = min(self._synced_index, index)
        self._epochs.truncate_after(index)

    def term_at(self, index: int) -> int:
        return self._epochs.term_at(index)

    def epochs(self) -> tuple[tuple[int, int], ...]:
        return self._epochs.epochs()

    def crash(self) -> None:
        """Lose the unsynced tail, as a machine crash would."""
        del self._entries[self._synced_index :]
        self._epochs.truncate_after(self._synced_index)

    def close(self) -> None:
        pass
