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

    A client given several nodes (failover) waits between rounds over them with the same backoff, but capped
    at `failover_max_delay`: a round during an election costs one refused connect and a quick 503 or two,
    while a long wait only delays the call past the moment the new leader is ready (with the uncapped
    backoff a call that had waited through a 1.5 s election next looked 0.5-1 s after it was over).
    """

    attempts: int = 6
    base_delay: float = 0.1
    max_delay: float = 2.0
    failover_max_delay: float = 0.25

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if not 0 <= self.base_delay <= self.max_delay:
            raise ValueError(f"need 0 <= base_delay <= max_delay, got {self.base_delay}, {self.max_delay}")
        if not self.failover_max_delay >= 0:
            raise ValueError(f"need failover_max_delay >= 0, got {self.failover_max_delay}")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits between attempts: `attempts - 1` of them."""
        rng = rng or random.Random()
        for k in range(self.attempts - 1):
            yield self.delay(k, rng.random())

    def delay(self, retry: int, jitter: float) -> float:
        """The wait before retry number `retry` (0 for the first); `jitter` is a uniform draw from [0, 1).

        The exponent is capped so that a long failover deadline cannot overflow the float.
        """
        return _jittered(min(self.max_delay, self._doubled(retry)), jitter)

    def failover_delay(self, round_: int, jitter: float) -> float:
        """The wait before round number `round_` (0 for the second) over a failover client's nodes."""
        return _jittered(min(self.max_delay, self.failover_max_delay, self._doubled(round_)), jitter)

    def _doubled(self, retry: int) -> float:
        return self.base_delay * 2 ** min(retry, _DOUBLINGS_MAX)


def _jittered(nominal: float, jitter: float) -> float:
    return nominal / 2 + jitter * nominal / 2


NO_RETRY = RetryPolicy(attempts=1)
