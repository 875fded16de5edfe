"""Write concerns: which index is stored on at least `w` nodes, and who may be released.

`satisfied_index(durable, w)` is the w-th largest of the nodes' durable indexes (etcd's
CommittedIndex, generalised from a majority to any w). Because indexes are assigned in order,
the waiters of one `w` form a FIFO sorted by index, so releasing is popping a prefix.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence

__all__ = ["ConcernWaiters", "satisfied_index"]


def satisfied_index(durable: Sequence[int], w: int) -> int:
    """The highest index held by at least `w` of the nodes whose durable indexes are given."""
    if not 1 <= w <= len(durable):
        raise AssertionError(f"w={w} outside 1..{len(durable)}")
    return sorted(durable, reverse=True)[w - 1]


class ConcernWaiters:
    """One FIFO of (index, token) per w; a duplicate request may re-enter below the tail."""

    def __init__(self, w_max: int) -> None:
        self._fifos: dict[int, deque[tuple[int, int]]] = {w: deque() for w in range(1, w_max + 1)}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def waiting(self, w: int) -> int:
        return len(self._fifos[w])

    def add(self, w: int, index: int, token: int) -> None:
        fifo = self._fifos[w]
        if fifo and fifo[-1][0] > index:
            # Only a duplicate request lands behind a newer index; keep the FIFO sorted.
            items = sorted([*fifo, (index, token)])
            fifo.clear()
            fifo.extend(items)
        else:
            fifo.append((index, token))
        self._count += 1

    def remove(self, token: int) -> None:
        for fifo in self._fifos.values():
            for item in fifo:
                if item[1] == token:
                    fifo.remove(item)
                    self._count -= 1
                    return

    def pop_above(self, index: int) -> Iterator[int]:
        """Remove and yield the tokens of every waiter on an index above `index`."""
        for fifo in self._fifos.values():
            while fifo and fifo[-1][0] > index:
                self._count -= 1
                yield fifo.pop()[1]

    def pop_satisfied(
        self,
        durable: Sequence[int],
        *,
        majority: int | None = None,
        commit_index: int = 0,
        own_index: int | None = None,
    ) -> Iterator[tuple[int, int]]:
        """Yield (token, index) for every waiter whose concern `durable` now meets.

        With `majority` given, a w >= majority waiter also needs its index committed (Raft's rule: an
        entry on a majority may still be overwritten until an entry of the current term is on one too).
        With `own_index` given, nothing above it is released (the leader's own synced index: followers
        may hold more than its disk once the leader sends before its fsync).
        """
        for w, fifo in self._fifos.items():
            if not fifo:
                continue
            ready = satisfied_index(durable, w)
            if own_index is not None:
                ready = min(ready, own_index)
            if majority is not None and w >= majority:
                ready = min(ready, commit_index)
            while fifo and fifo[0][0] <= ready:
                index, token = fifo.popleft()
                self._count -= 1
                yield token, index

    def pending_by_w(self) -> dict[int, int]:
        return {w: len(fifo) for w, fifo in self._fifos.items()}
