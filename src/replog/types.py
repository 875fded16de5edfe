"""Small value types shared by every layer.

An entry's index is both its identity and its place in the total order: indexes start at 1
and a log never has a hole. Payloads are opaque bytes to everything but the HTTP edge.
"""

from __future__ import annotations

import enum
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "INTERNAL_REQUEST_ID_PREFIX",
    "Entry",
    "HealthState",
    "PeerId",
    "RecordRun",
    "batch_bounds",
    "is_internal",
    "noop_request_id",
]

PeerId = int
"""A secondary's id: its position in the configured list (0, 1, ...)."""


class Entry(NamedTuple):
    """One log entry. A NamedTuple, not a dataclass: millions are built while catching up, and a
    tuple is built about three times faster than a frozen dataclass."""

    index: int
    payload: bytes
    # A client's idempotency key, stored with the entry so the dedup window survives restarts.
    request_id: str | None = None
    # The term of the leader that created the entry (Raft). Last, with a default, so that entries built
    # before failover existed (and v1 segments, whose records have no term) read as term 0.
    term: int = 0

    def size_bytes(self) -> int:
        # A budget for batching, not an exact size: it leaves the term out on purpose, so that batch
        # boundaries stay where they were and a record on disk, of either format, is never smaller.
        return len(self.payload) + (len(self.request_id) if self.request_id else 0) + 16


@dataclass(frozen=True, slots=True)
class RecordRun:
    """Entries first_index.. as segment records back to back in `data` (storage/runs.py): catch-up ships
    them as they lie on disk. `ends[i]` is where record first_index + i ends."""

    first_index: int
    data: bytes
    ends: array[int]
    epochs: tuple[tuple[int, int], ...]  # (term, first_index) of each run of equal terms, in order

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.ends) - 1

    @property
    def first_term(self) -> int:
        return self.epochs[0][0]

    @property
    def last_term(self) -> int:
        return self.epochs[-1][0]

    def after(self, index: int) -> RecordRun | None:
        """The records after `index` (all of them if it is before the run), or None if none is left."""
        skip = index - self.first_index + 1
        if skip <= 0:
            return self
        if skip >= len(self.ends):
            return None
        cut = self.ends[skip - 1]
        ends = array("Q", (end - cut for end in self.ends[skip:]))
        first = index + 1
        kept = [(term, max(start, first)) for term, start in self.epochs]
        epochs = tuple(epoch for i, epoch in enumerate(kept) if i + 1 == len(kept) or kept[i + 1][1] > first)
        return RecordRun(first, self.data[cut:], ends, epochs)


def batch_bounds(batch: Sequence[Entry] | RecordRun) -> tuple[int, int, int, int]:
    """(first index, its term, last index, its term) of a non-empty batch of entries or run of records."""
    if isinstance(batch, RecordRun):
        return batch.first_index, batch.first_term, batch.last_index, batch.last_term
    return batch[0].index, batch[0].term, batch[-1].index, batch[-1].term


class HealthState(enum.Enum):
    HEALTHY = "Healthy"
    SUSPECTED = "Suspected"
    UNHEALTHY = "Unhealthy"


INTERNAL_REQUEST_ID_PREFIX = "replog:"
"""Entries whose request_id starts with this are the log's own (a new leader's no-op), never a client's:
readers skip them, though they still take an index. Clients may not use the prefix."""


def noop_request_id(term: int) -> str:
    return f"{INTERNAL_REQUEST_ID_PREFIX}leader-term-{term}"


def is_internal(entry: Entry) -> bool:
    return entry.request_id is not None and entry.request_id.startswith(INTERNAL_REQUEST_ID_PREFIX)
