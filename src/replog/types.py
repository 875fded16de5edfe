"""Small value types shared by every layer.

An entry's index is both its identity and its place in the total order: indexes start at 1
and a log never has a hole. Payloads are opaque bytes to everything but the HTTP edge.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

__all__ = ["INTERNAL_REQUEST_ID_PREFIX", "Entry", "HealthState", "PeerId", "is_internal", "noop_request_id"]

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
