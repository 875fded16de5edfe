"""FaultPlan: validation of the settings shape, time windows relative to now_ms, describe()."""

from __future__ import annotations

import random
from typing import Any

import pytest

from replog.errors import InvalidRequest
from replog.faults import FaultPlan


def test_an_empty_plan_injects_nothing() -> None:
    plan = FaultPlan.from_settings({}, now_ms=1000)
    assert plan == FaultPlan()
    assert not plan.looping(1000) and not plan.unavailable(1000)
    assert not any(plan.fail_after_append(random.Random(i)) for i in range(50))
    assert plan.ack_delay_ms(random.Random(0)) == 0


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"explode": 1}, "unknown fault(s) ['explode']"),
        ({"error_after_append": 1.5}, "error_after_append must be a probability in 0..1"),
        ({"error_after_append": -0.1}, "error_after_append must be a probability"),
        ({"error_after_append": True}, "error_after_append must be a probability"),
        ({"error_after_append": "0.5"}, "error_after_append must be a probability"),
        ({"delay_ms": [5, 1]}, "delay_ms must be [min, max] milliseconds"),
        ({"delay_ms": [1]}, "delay_ms must be [min, max]"),
        ({"delay_ms": [1, 2, 3]}, "delay_ms must be [min, max]"),
        ({"delay_ms": -1}, "delay_ms must be [min, max]"),
        ({"delay_ms": True}, "delay_ms must be [min, max]"),
        ({"delay_ms": [0, 600_001]}, "max <= 600000"),
        ({"delay_ms": [0.5, 1]}, "delay_ms must be [min, max]"),
        ({"delay_ms": "5"}, "delay_ms must be [min, max]"),
        ({"internal_looping": -1}, "internal_looping must be a number of seconds in 0..86400"),
        ({"internal_looping": 86_401}, "internal_looping must be a number of seconds"),
        ({"internal_looping": True}, "internal_looping must be a number of seconds"),
        ({"server_unavailable": "10"}, "server_unavailable must be a number of seconds in 0..86400"),
    ],
)
def test_bad_settings_are_refused_with_a_message_naming_the_fault(settings: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        FaultPlan.from_settings(settings, now_ms=0)
    assert words in str(excinfo.value)


@pytest.mark.parametrize(("delay", "expected"), [(7, (7, 7)), ([1, 5], (1, 5)), ((0, 0), (0, 0))])
def test_delay_accepts_one_number_or_a_pair(delay: Any, expected: tuple[int, int]) -> None:
    assert FaultPlan.from_settings({"delay_ms": delay}, now_ms=0).delay_ms == expected


def test_windows_run_from_now() -> None:
    plan = FaultPlan.from_settings({"internal_looping": 2, "server_unavailable": 0.5}, now_ms=1000)
    assert (plan.looping_until_ms, plan.unavailable_until_ms) == (3000, 1500)
    assert plan.looping(1000) and plan.looping(2999) and not plan.looping(3000)
    assert plan.unavailable(1499) and not plan.unavailable(1500)


def test_a_base_plan_is_kept_where_settings_are_silent_and_zero_clears_a_window() -> None:
    base = FaultPlan.from_settings(
        {"error_after_append": 0.3, "delay_ms": [1, 2], "internal_looping": 10, "server_unavailable": 10}, now_ms=0
    )
    plan = FaultPlan.from_settings({"internal_looping": 0}, now_ms=500, base=base)
    assert plan.error_after_append == 0.3
    assert plan.delay_ms == (1, 2)
    assert plan.looping_until_ms == 0 and not plan.looping(500)
    assert plan.unavailable_until_ms == 10_000


def test_describe_reports_remaining_seconds() -> None:
    plan = FaultPlan.from_settings(
        {"error_after_append": 0.25, "delay_ms": [3, 9], "internal_looping": 2, "server_unavailable": 1}, now_ms=1000
    )
    assert plan.describe(1500) == {
        "error_after_append": 0.25,
        "delay_ms": [3, 9],
        "internal_looping": 1.5,
        "server_unavailable": 0.5,
    }
    assert plan.describe(10_000)["internal_looping"] == 0.0
    assert plan.describe(10_000)["server_unavailable"] == 0.0


def test_error_after_append_ratio_and_ack_delay_use_the_given_rng() -> None:
    always = FaultPlan(error_after_append=1.0)
    assert all(always.fail_after_append(random.Random(i)) for i in range(20))
    half = FaultPlan(error_after_append=0.5)
    rng = random.Random(7)
    hits = sum(half.fail_after_append(rng) for _ in range(2000))
    assert 800 < hits < 1200
    delays = FaultPlan(delay_ms=(10, 20))
    rng_a, rng_b = random.Random(3), random.Random(3)
    seq = [delays.ack_delay_ms(rng_a) for _ in range(50)]
    assert seq == [delays.ack_delay_ms(rng_b) for _ in range(50)]
    assert all(10 <= d <= 20 for d in seq) and len(set(seq)) > 1
    assert FaultPlan(delay_ms=(5, 5)).ack_delay_ms(random.Random(0)) == 5
