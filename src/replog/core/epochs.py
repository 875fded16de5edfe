"""Epoch tables: where two logs stop agreeing, from a few (term, first_index) pairs.

A log's epoch table lists, in index order, the term of each run of entries and the index where the
run starts (Kafka's leader-epoch cache, KIP-101). Terms never decrease along a log, so the table is a
few pairs long however long the log is.

Raft's log-matching property makes the tables enough: every entry of term `t` was created by the one
leader of `t`, at the same index on every node, so two logs holding an entry of the same term at the
same index are identical up to it. The last index both logs share is therefore found per term: for the
newest term both tables hold, the shorter of the two runs ends the common prefix. A follower keeps
exactly that prefix and drops (into a rollback file) whatever follows it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["Epochs", "match_index", "term_at"]

Epochs = Sequence[tuple[int, int]]
"""(term, first_index) pairs in index order, one per run of equal terms."""


def term_at(epochs: Epochs, last_index: int, index: int) -> int:
    """The term of the entry at `index` in a log ending at `last_index`; 0 for index 0."""
    if not 0 <= index <= last_index:
        raise AssertionError(f"index {index} outside 0..{last_index}")
    term = 0
    for epoch_term, first in epochs:
        if first > index:
            break
        term = epoch_term
    return term


def match_index(ours: Epochs, our_last: int, theirs: Epochs, their_last: int) -> int:
    """The last index where both logs hold the same entry (0 when they share nothing)."""
    our_runs = dict(_runs(ours, our_last))
    for term, (first, last) in reversed(_runs(theirs, their_last)):
        if term in our_runs:
            our_first, our_last_of_term = our_runs[term]
            if our_first != first:
                raise AssertionError(f"term {term} starts at {our_first} here but at {first} there")
            return min(last, our_last_of_term)
    return 0


def _runs(epochs: Epochs, last_index: int) -> list[tuple[int, tuple[int, int]]]:
    """[(term, (first, last))] for each non-empty run of the log."""
    runs = []
    for position, (term, first) in enumerate(epochs):
        end = epochs[position + 1][1] - 1 if position + 1 < len(epochs) else last_index
        if end >= first:
            runs.append((term, (first, end)))
    return runs
