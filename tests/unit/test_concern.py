"""Write concerns: the w-th largest durable index, and one sorted FIFO of waiters per w."""

from __future__ import annotations

import pytest

from replog.core.concern import ConcernWaiters, satisfied_index


@pytest.mark.parametrize(
    ("durable", "w", "expected"),
    [
        ([7], 1, 7),
        ([5, 3, 9], 1, 9),
        ([5, 3, 9], 2, 5),
        ([5, 3, 9], 3, 3),
        ([4, 4, 0], 2, 4),
        ([4, 4, 0], 3, 0),
        ([0, 0, 0], 1, 0),
        ([10, 2, 8, 6, 4], 3, 6),
        ([10, 2, 8, 6, 4], 5, 2),
    ],
)
def test_satisfied_index_is_the_wth_largest(durable: list[int], w: int, expected: int) -> None:
    assert satisfied_index(durable, w) == expected


@pytest.mark.parametrize(("durable", "w"), [([1, 2, 3], 0), ([1, 2, 3], 4), ([], 1)])
def test_satisfied_index_rejects_w_outside_the_node_count(durable: list[int], w: int) -> None:
    with pytest.raises(AssertionError, match=r"outside 1\.\."):
        satisfied_index(durable, w)


def test_release_order_is_fifo_per_w_and_stops_at_the_first_unsatisfied() -> None:
    waiters = ConcernWaiters(w_max=3)
    waiters.add(1, 1, token=10)
    waiters.add(2, 1, token=20)
    waiters.add(1, 2, token=11)
    waiters.add(2, 2, token=21)
    waiters.add(1, 3, token=12)
    assert len(waiters) == 5
    # Master synced 2, secondaries at 1 and 0: w=1 may release up to 2, w=2 up to 1.
    assert list(waiters.pop_satisfied([2, 1, 0])) == [(10, 1), (11, 2), (20, 1)]
    assert waiters.pending_by_w() == {1: 1, 2: 1, 3: 0}
    assert len(waiters) == 2
    assert list(waiters.pop_satisfied([3, 2, 0])) == [(12, 3), (21, 2)]
    assert len(waiters) == 0


def test_nothing_is_released_twice() -> None:
    waiters = ConcernWaiters(w_max=1)
    waiters.add(1, 1, token=1)
    assert list(waiters.pop_satisfied([1])) == [(1, 1)]
    assert list(waiters.pop_satisfied([5])) == []


def test_a_duplicate_added_below_the_tail_keeps_the_fifo_sorted() -> None:
    waiters = ConcernWaiters(w_max=2)
    waiters.add(2, 5, token=1)
    waiters.add(2, 9, token=2)
    waiters.add(2, 3, token=3)  # A retried request waits on its older index.
    assert waiters.pending_by_w()[2] == 3
    # With the tail unsorted, index 3 would sit behind 9 and never be released at satisfied=5.
    assert list(waiters.pop_satisfied([9, 5])) == [(3, 3), (1, 5)]
    assert list(waiters.pop_satisfied([9, 9])) == [(2, 9)]


def test_remove_forgets_one_token_only() -> None:
    waiters = ConcernWaiters(w_max=2)
    waiters.add(1, 1, token=1)
    waiters.add(2, 1, token=2)
    waiters.add(2, 2, token=3)
    waiters.remove(2)
    assert len(waiters) == 2
    assert waiters.pending_by_w() == {1: 1, 2: 1}
    waiters.remove(99)  # Unknown tokens are ignored.
    assert len(waiters) == 2
    assert list(waiters.pop_satisfied([2, 2])) == [(1, 1), (3, 2)]
