"""Exponential backoff with a cap and "equal jitter": half the step is fixed, half random.

The fixed half keeps the growth visible (and bounded below, so a flapping peer is not dialled
in a tight loop); the random half keeps the master's links from retrying in lockstep.

Pure: the caller passes the attempt number and a random source, so tests and the simulator
get the same delays from the same seed.
"""

from __future__ import annotations

import random

__all__ = ["delay_ms"]


def delay_ms(attempt: int, rng: random.Random, *, base_ms: int, cap_ms: int) -> int:
    """Delay before retry `attempt` (0 first): uniform in [step/2, step], step = min(cap, base*2^n)."""
    if attempt < 0 or base_ms <= 0 or cap_ms < base_ms:
        raise ValueError("need attempt >= 0 and 0 < base_ms <= cap_ms")
    ceiling = min(cap_ms, base_ms * (1 << min(attempt, 32)))
    return ceiling // 2 + rng.randint(0, ceiling - ceiling // 2)
