"""The epoch table: (term, first_index) for each run of equal terms along a log (Kafka's leader-epoch cache).

Terms never decrease along a log (each entry carries the term of the leader that created it, and a leader's
term is above every term before it), so a log's terms are a few runs, one per leader that appended, and the
term of any index follows from the run it falls in. The table is therefore O(#terms) memory, not a term per
entry, and it is derived data: a store rebuilds it from its records at recovery and keeps it in step on
append and truncate. A joining follower sends it so that the leader can find where two logs stop agreeing.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from replog.types import Entry

__all__ = ["EpochTable"]


class EpochTable:
    def __init__(self, epochs: Iterable[tuple[int, int]] = (), last_index: int = 0) -> None:
        """`epochs` as recovered from a log ending at `last_index`: terms rising, first indexes rising from 1."""
        self._terms: list[int] = []
        self._firsts: list[int] = []  # _firsts[i] is where the run of term _terms[i] starts
        self._last_index = last_index
        for term, first_index in epochs:
            follows = term > self._terms[-1] and first_index > self._firsts[-1] if self._terms else first_index == 1
            if not follows:
                raise AssertionError(f"epoch ({term}, {first_index}) does not follow {self.epochs()}")
            self._terms.append(term)
            self._firsts.append(first_index)
        if (last_index > 0) != bool(self._firsts) or (self._firsts and self._firsts[-1] > last_index):
            raise AssertionError(f"epochs {self.epochs()} do not fit a log ending at {last_index}")

    def epochs(self) -> tuple[tuple[int, int], ...]:
        return tuple(zip(self._terms, self._firsts, strict=True))

    @property
    def last_term(self) -> int:
        """The term of the last entry (0 for an empty log)."""
        return self._terms[-1] if self._terms else 0

    def term_at(self, index: int) -> int:
        """The term of the entry at `index`; 0 for index 0, the position before the first entry."""
        if index == 0:
            return 0
        if not 1 <= index <= self._last_index:
            raise AssertionError(f"term_at({index}) outside the log 1..{self._last_index}")
        return self._terms[bisect.bisect_right(self._firsts, index) - 1]

    def extend(self, entries: Sequence[Entry]) -> None:
        """Record appended entries; the store has checked they continue the log with terms not decreasing."""
        if not entries:
            return
        first_term, last_term = entries[0].term, entries[-1].term
        if first_term == last_term:
            # Terms never decrease, so a batch that starts and ends in one term is all that term.
            self._note(first_term, entries[0].index)
        else:
            for entry in entries:
                self._note(entry.term, entry.index)
        self._last_index = entries[-1].index

    def extend_epochs(self, epochs: Sequence[tuple[int, int]], last_index: int) -> None:
        """Record appended entries given by their runs of terms (a RecordRun's), ending at `last_index`."""
        for term, first_index in epochs:
            self._note(term, first_index)
        self._last_index = last_index

    def between(self, lo: int, hi: int) -> tuple[tuple[int, int], ...]:
        """The runs of terms of entries lo..hi (within the log), the first one starting at lo."""
        first = bisect.bisect_right(self._firsts, lo) - 1
        last = bisect.bisect_right(self._firsts, hi)
        runs = list(zip(self._terms[first:last], self._firsts[first:last], strict=True))
        runs[0] = (runs[0][0], lo)
        return tuple(runs)

    def truncate_after(self, index: int) -> None:
        """Forget every entry after `index`: runs that start after it go, the one it falls in ends there."""
        keep = bisect.bisect_right(self._firsts, index)
        del self._terms[keep:], self._firsts[keep:]
        self._last_index = min(self._last_index, index)

    def _note(self, term: int, index: int) -> None:
        if not self._terms or self._terms[-1] != term:
            self._terms.append(term)
            self._firsts.append(index)
