"""FaultPlan: the faults a secondary injects into its own replication path, on purpose.

- error_after_append: probability that a batch is stored and synced, and then the secondary
  drops the link instead of acknowledging (the master's retry must not duplicate it).
- delay_ms: (min, max) extra delay before each acknowledgement.
- internal_looping: for this many seconds from when it is set, the secondary stops answering
  frames at all (heartbeats go unanswered: the master sees it Suspected, then Unhealthy).
- server_unavailable: for this many seconds, the secondary refuses the master's connections.

Pure apart from the clock value and rng the caller passes in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from replog.errors import InvalidRequest

__all__ = ["FaultPlan"]


@dataclass(frozen=True, slots=True)
class FaultPlan:
    error_after_append: float = 0.0
    delay_ms: tuple[int, int] = (0, 0)
    looping_until_ms: int = 0
    unavailable_until_ms: int = 0

    @classmethod
    def from_settings(cls, settings: dict[str, Any], now_ms: int, base: FaultPlan | None = None) -> FaultPlan:
        """Build from the config / POST /faults shape; unknown or malformed keys raise InvalidRequest."""
        plan = base or cls()
        known = {"error_after_append", "delay_ms", "internal_looping", "server_unavailable"}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise InvalidRequest(f"unknown fault(s) {unknown}; known: {sorted(known)}")
        ratio = settings.get("error_after_append", plan.error_after_append)
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
            raise InvalidRequest("error_after_append must be a probability in 0..1")
        delay = settings.get("delay_ms", plan.delay_ms)
        if isinstance(delay, int) and not isinstance(delay, bool):
            delay = (delay, delay)
        if (
            not isinstance(delay, list | tuple)
            or len(delay) != 2
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 600_000 for d in delay)
            or delay[0] > delay[1]
        ):
            raise InvalidRequest("delay_ms must be [min, max] milliseconds with 0 <= min <= max <= 600000")
        return cls(
            error_after_append=float(ratio),
            delay_ms=(int(delay[0]), int(delay[1])),
            looping_until_ms=_until(settings, "internal_looping", now_ms, plan.looping_until_ms),
            unavailable_until_ms=_until(settings, "server_unavailable", now_ms, plan.unavailable_until_ms),
        )

    def looping(self, now_ms: int) -> bool:
        return now_ms < self.looping_until_ms

    def unavailable(self, now_ms: int) -> bool:
        return now_ms < self.unavailable_until_ms

    def fail_after_append(self, rng: random.Random) -> bool:
        return self.error_after_append > 0 and rng.random() < self.error_after_append

    def ack_delay_ms(self, rng: random.Random) -> int:
        low, high = self.delay_ms
        return low if low == high else rng.randint(low, high)

    def describe(self, now_ms: int) -> dict[str, Any]:
        return {
            "error_after_append": self.error_after_append,
            "delay_ms": list(self.delay_ms),
            "internal_looping": max(0.0, (self.looping_until_ms - now_ms) / 1000),
            "server_unavailable": max(0.0, (self.unavailable_until_ms - now_ms) / 1000),
        }


def _until(settings: dict[str, Any], key: str, now_ms: int, current: int) -> int:
    if key not in settings:
        return current
    seconds = settings[key]
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 86_400:
        raise InvalidRequest(f"{key} must be a number of seconds in 0..86400")
    return now_ms + int(seconds * 1000) if seconds else 0
