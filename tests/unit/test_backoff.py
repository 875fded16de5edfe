"""Reconnect backoff: exponential, capped, equal jitter, deterministic for a seed."""

from __future__ import annotations

import random

import pytest

from replog.net.backoff import delay_ms


class _Extreme(random.Random):
    """An rng whose randint always returns one end of the range."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def randint(self, a: int, b: int) -> int:
        return b if self.high else a


@pytest.mark.parametrize(
    ("attempt", "step"),
    [(0, 100), (1, 200), (2, 400), (3, 800), (4, 1600), (5, 3000), (6, 3000), (40, 3000), (10_000, 3000)],
)
def test_step_grows_exponentially_up_to_the_cap(attempt: int, step: int) -> None:
    assert delay_ms(attempt, _Extreme(high=True), base_ms=100, cap_ms=3000) == step
    assert delay_ms(attempt, _Extreme(high=False), base_ms=100, cap_ms=3000) == step // 2


@pytest.mark.parametrize("attempt", range(12))
def test_delay_stays_within_half_step_and_step(attempt: int) -> None:
    step = min(1000, 7 * 2**attempt)
    rng = random.Random(attempt)
    delays = {delay_ms(attempt, rng, base_ms=7, cap_ms=1000) for _ in range(200)}
    assert all(step // 2 <= d <= step for d in delays)
    if step >= 8:
        assert len(delays) > 1  # Jittered, not a constant.


def test_same_seed_same_delays_different_seed_different_delays() -> None:
    def run(seed: int) -> list[int]:
        rng = random.Random(seed)
        return [delay_ms(a, rng, base_ms=100, cap_ms=3200) for a in range(10)]

    assert run(42) == run(42)
    assert run(42) != run(43)


@pytest.mark.parametrize(
    ("attempt", "base_ms", "cap_ms"),
    [(-1, 100, 1000), (0, 0, 1000), (0, -5, 1000), (0, 100, 99)],
)
def test_bad_arguments_raise_value_error(attempt: int, base_ms: int, cap_ms: int) -> None:
    with pytest.raises(ValueError, match="base_ms <= cap_ms"):
        delay_ms(attempt, random.Random(0), base_ms=base_ms, cap_ms=cap_ms)
