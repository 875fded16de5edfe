"""The LogStore protocol: what the shells need from a node's local log.

A store holds entries 1..last_index with no holes, and their terms never decrease. `append` only
writes (it may sit in an OS buffer); `sync` makes everything appended so far durable under the
store's policy and returns the new `synced_index`. Only synced entries are ever acknowledged or
replicated, so a crash may lose an unsynced tail but never an entry anybody was told about.

Thread use: the shells call `sync` from a worker thread while the event loop keeps calling
`append` and `read`; implementations must allow that one overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from replog.types import Entry, RecordRun

__all__ = ["HardState", "LogStore", "check_append", "check_hard_state", "read_synced"]

HardState = tuple[int, int | None]
"""Raft's persistent (term, voted_for): what a node must remember across a crash before it votes."""

READ_CHUNK_BYTES = 4 << 20


class LogStore(Protocol):
    @property
    def log_id(self) -> str:
        """The identity of the log this store belongs to ('' until adopted)."""
        ...

    def set_log_id(self, log_id: str) -> None:
        """Adopt a log id (a fresh secondary adopts its master's), durably."""
        ...

    @property
    def hard_state(self) -> HardState:
        """(term, voted_for): (0, None) until first set."""
        ...

    def set_hard_state(self, term: int, voted_for: int | None) -> None:
        """Remember the term and the vote durably before returning (before the node answers or campaigns)."""
        ...

    @property
    def last_index(self) -> int: ...

    @property
    def synced_index(self) -> int: ...

    def append(self, entries: Sequence[Entry]) -> None:
        """Write entries that continue the log exactly (first index == last_index + 1)."""
        ...

    def append_run(self, run: RecordRun) -> None:
        """Append records a leader sent as they lie on its disk (checked by check_run), continuing the log."""
        ...

    def sync(self) -> int:
        """Make all appended entries durable; return the synced index."""
        ...

    def read(self, lo: int, hi: int, bytes_max: int) -> list[Entry]:
        """Entries lo..hi inclusive (clamped to last_index), stopping once bytes_max is passed.

        Returns at least one entry when lo <= last_index, however large it is.
        """
        ...

    def read_for_follower(self, lo: int, hi: int, bytes_max: int) -> list[Entry] | RecordRun:
        """What a leader sends a follower from lo (as `read`, or a RecordRun of what lies on disk)."""
        ...

    def truncate_after(self, index: int) -> None:
        """Remove every entry after `index` (index >= 0), durably, before returning.

        last_index and synced_index drop to at most `index`; appending index + 1 then continues the log.
        A crash during the call leaves a prefix of the log as it was, at least 1..index long.
        """
        ...

    def term_at(self, index: int) -> int:
        """The term of the entry at `index` (0 <= index <= last_index); 0 for index 0."""
        ...

    def epochs(self) -> tuple[tuple[int, int], ...]:
        """(term, first_index) for each run of equal terms, in index order (the leader-epoch table)."""
        ...

    def close(self) -> None: ...


def check_append(last_index: int, entries: Sequence[Entry], last_term: int = 0) -> None:
    """Shared precondition of every store: appended entries continue the log with no hole, and their terms
    never decrease (a log's terms are runs, one per leader; the epoch table relies on it)."""
    expected, term = last_index + 1, last_term
    for entry in entries:
        if entry.index != expected:
            raise AssertionError(f"append out of order: got index {entry.index}, expected {expected}")
        if entry.term < term:
            raise AssertionError(f"append of entry {entry.index} with term {entry.term} after term {term}")
        expected, term = expected + 1, entry.term


def check_hard_state(current: HardState, term: int, voted_for: int | None) -> None:
    """Shared precondition of set_hard_state: the two rules that make a vote mean something.

    A term never goes down, and a node votes at most once per term: within one term voted_for may go
    from None to a node, never from one node to another or back to None.
    """
    if type(term) is not int or term < 0:
        raise AssertionError(f"term must be an int >= 0, got {term!r}")
    if voted_for is not None and (type(voted_for) is not int or voted_for < 0):
        raise AssertionError(f"voted_for must be None or a node id >= 0, got {voted_for!r}")
    current_term, current_vote = current
    if term < current_term:
        raise AssertionError(f"term {term} is below the current term {current_term}: a term never goes down")
    if term == current_term and current_vote is not None and voted_for != current_vote:
        raise AssertionError(f"term {term}: already voted for {current_vote}, cannot vote for {voted_for}")


def read_synced(store: LogStore, start: int, limit: int) -> list[Entry]:
    """Entries start..start+limit-1 that are synced (what readers may see), read in bounded chunks."""
    hi = min(store.synced_index, start + limit - 1)
    out: list[Entry] = []
    while start <= hi:
        chunk = store.read(start, hi, READ_CHUNK_BYTES)
        out += chunk
        start = chunk[-1].index + 1
    return out
