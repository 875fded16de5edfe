"""Epoch tables: the term at an index, and where two logs stop agreeing."""

from __future__ import annotations

import pytest

from replog.core.epochs import match_index, term_at


@pytest.mark.parametrize(("index", "term"), [(0, 0), (1, 1), (3, 1), (4, 2), (6, 2), (7, 5), (9, 5)])
def test_term_at(index: int, term: int) -> None:
    assert term_at([(1, 1), (2, 4), (5, 7)], 9, index) == term


def test_term_at_outside_the_log_is_a_bug() -> None:
    with pytest.raises(AssertionError):
        term_at([(1, 1)], 3, 4)


@pytest.mark.parametrize(
    ("ours", "our_last", "theirs", "their_last", "expected"),
    [
        ([], 0, [], 0, 0),  # Two empty logs.
        ([(1, 1)], 5, [], 0, 0),  # A fresh follower.
        ([(0, 1)], 9, [(0, 1)], 4, 4),  # Fixed master (term 0): the shorter log is the prefix.
        ([(0, 1)], 4, [(0, 1)], 9, 4),  # ...either way round.
        ([(1, 1), (2, 6)], 9, [(1, 1)], 7, 5),  # Their term-1 tail 6..7 never reached the new leader.
        ([(1, 1), (3, 6)], 8, [(1, 1), (2, 6)], 9, 5),  # They led term 2 alone: all of it goes.
        ([(1, 1), (2, 4), (4, 9)], 12, [(1, 1), (2, 4)], 8, 8),  # They lack only the newest term.
        ([(1, 1), (2, 4)], 6, [(1, 1), (2, 4)], 6, 6),  # Identical logs.
        ([(2, 1)], 3, [(1, 1)], 3, 0),  # Nothing in common.
        ([(1, 1), (2, 4), (3, 4)], 6, [(1, 1), (2, 4)], 5, 3),  # An emptied run (2) is no run.
    ],
)
def test_match_index(
    ours: list[tuple[int, int]], our_last: int, theirs: list[tuple[int, int]], their_last: int, expected: int
) -> None:
    assert match_index(ours, our_last, theirs, their_last) == expected


def test_a_term_starting_at_two_places_is_a_bug() -> None:
    with pytest.raises(AssertionError, match="term 2 starts at 4 here but at 5 there"):
        match_index([(1, 1), (2, 4)], 6, [(1, 1), (2, 5)], 6)
