"""The only place the nodes read time. The core gets `now_ms` from here, as an argument."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "RealClock"]


class Clock(Protocol):
    def monotonic_ms(self) -> int: ...


class RealClock:
    def monotonic_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000
