"""Health classification at the exact thresholds, and quorum arithmetic."""

from __future__ import annotations

import pytest

from replog.core.health import HealthThresholds, classify, has_quorum, quorum_needed
from replog.types import HealthState

H, S, U = HealthState.HEALTHY, HealthState.SUSPECTED, HealthState.UNHEALTHY
THRESHOLDS = HealthThresholds(suspect_after_ms=300, unhealthy_after_ms=600)


@pytest.mark.parametrize(
    ("silence_ms", "expected"),
    [
        (0, H),
        (299, H),
        (300, S),
        (301, S),
        (599, S),
        (600, U),
        (601, U),
        (10**9, U),
        (None, U),
    ],
)
def test_classify_at_the_thresholds(silence_ms: int | None, expected: HealthState) -> None:
    assert classify(silence_ms, THRESHOLDS) is expected


@pytest.mark.parametrize(("suspect", "unhealthy"), [(0, 10), (10, 10), (20, 10), (-1, 5)])
def test_thresholds_must_be_ordered_and_positive(suspect: int, unhealthy: int) -> None:
    with pytest.raises(ValueError, match="suspect_after_ms < unhealthy_after_ms"):
        HealthThresholds(suspect_after_ms=suspect, unhealthy_after_ms=unhealthy)


@pytest.mark.parametrize(("secondaries", "needed"), [(0, 1), (1, 2), (2, 2), (3, 3), (4, 3)])
def test_quorum_needed_is_a_majority_of_master_plus_secondaries(secondaries: int, needed: int) -> None:
    assert quorum_needed(secondaries) == needed


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([], True),
        ([U], False),
        ([H], True),
        ([S], True),  # Suspected still counts towards quorum.
        ([U, U], False),
        ([H, U], True),
        ([S, U], True),
        ([U, U, H], False),
        ([U, S, H], True),
        ([U, U, H, H], True),
        ([U, U, U, H], False),
    ],
)
def test_has_quorum_counts_the_master_and_every_secondary_not_unhealthy(
    states: list[HealthState], expected: bool
) -> None:
    assert has_quorum(states) is expected
