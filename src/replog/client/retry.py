"""How often and how patiently a client retries a request that got no answer.

Only failures to get any answer are retried (refused, reset, closed before the answer, connect timeout),
plus, for a client given several nodes, a 503 "no leader" during an election (see `failover`): every other
answer of the server, errors included, is final and returned or raised at once. Retrying is safe because
every append carries a request_id, so a request that was stored before its answer was lost is recognised
and not appended twice.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["RetryPolicy"]

# 2**60 times any sensible base delay is far beyond any cap; more doublings would only risk an overflow.
_DOUBLINGS_MAX = 60


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`attempts` tries in all; the k-th wait is base_delay * 2**k capped at max_delay, with equal jitter.

    Equal jitter (a random point in the upper half of the wait) keeps clients that failed together from
    retrying together, while still waiting at least half the nominal time. The defaults ride out about
    three seconds of absence, enough for a master to restart.
    """

    attempts: int = 6
    base_delay: float = 0.1
    max_delay: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if not 0 <= self.base_delay <= self.max_delay:
            raise ValueError(f"need 0 <= base_delay <= max_delay, got {self.base_delay}, {self.max_delay}")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits between attempts: `attempts - 1` of them."""
        rng = rng or random.Random()
        for k in range(self.attempts - 1):
            yield self.delay(k, rng.random())

    def delay(self, retry: int, jitter: float) -> float:
        """The wait before retry number `retry` (0 for the first); `jitter` is a uniform draw from [0, 1).

        The exponent is capped so that a long failover deadline cannot overflow the float.
        """
        nominal = min(self.max_delay, self.base_delay * 2 ** min(retry, _DOUBLINGS_MAX))
        return nominal / 2 + jitter * nominal / 2


NO_RETRY = RetryPolicy(attempts=1)
