"""One second of appends: what the append path records (cheaply) and what the sampler makes of it.

The append path calls `SecondAccumulator.record` once per answered append (NodeMetrics.observe_append,
next to the Prometheus counter): one dict update and, for a stored append, one list append. Once a
second the sampler swaps the accumulator's contents out with `take` and `make_sample` turns them into
rates and latency quantiles. Above LATENCIES_MAX appends in one second the latencies kept are a
uniform reservoir sample, so memory and the once-a-second sort stay bounded at any rate.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

from replog.samples.ring import NodeState, Sample

__all__ = ["LATENCIES_MAX", "OUTCOMES", "SecondAccumulator", "make_sample", "quantile"]

# The `outcome` label of replog_appends (web/errors.py outcome_of), in the order the charts show them.
OUTCOMES = ("ok", "duplicate", "read_only", "no_leader", "timeout", "refused", "invalid", "error")
STORED = frozenset({"ok", "duplicate"})  # Only these have a latency worth charting (as the histogram).
LATENCIES_MAX = 20_000


class SecondAccumulator:
    """Counts and latencies since the last `take`; fed on the append path, so it does almost nothing."""

    __slots__ = ("_counts", "_latencies", "_rng", "_stored")

    def __init__(self, rng: random.Random | None = None) -> None:
        self._counts: dict[str, int] = {}
        self._latencies: list[float] = []
        self._stored = 0  # stored appends seen since the last take (the reservoir's n)
        self._rng = rng or random.Random()

    def record(self, outcome: str, seconds: float) -> None:
        self._counts[outcome] = self._counts.get(outcome, 0) + 1
        if outcome not in STORED:
            return
        self._stored += 1
        if len(self._latencies) < LATENCIES_MAX:
            self._latencies.append(seconds)
        else:  # Algorithm R: every latency of the second is kept with the same probability.
            slot = self._rng.randrange(self._stored)
            if slot < LATENCIES_MAX:
                self._latencies[slot] = seconds

    def take(self) -> tuple[dict[str, int], list[float]]:
        """Everything recorded since the last take; starts afresh."""
        counts, latencies = self._counts, self._latencies
        self._counts, self._latencies, self._stored = {}, [], 0
        return counts, latencies


def quantile(ordered: Sequence[float], q: float) -> float | None:
    """The nearest-rank q-quantile of sorted values (p99 of 100 values is the 99th), None if empty."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def make_sample(
    t: int, seconds: float, counts: Mapping[str, int], latencies: Sequence[float], state: NodeState
) -> Sample:
    """The sample for the `seconds` that end at unix second `t`: rates per second, p50/p99 in ms."""
    span = max(seconds, 1e-3)
    ordered = sorted(latencies)
    p50, p99 = quantile(ordered, 0.5), quantile(ordered, 0.99)
    return Sample(
        t=t,
        appends={outcome: round(count / span, 2) for outcome, count in counts.items() if count},
        p50_ms=None if p50 is None else round(p50 * 1000, 3),
        p99_ms=None if p99 is None else round(p99 * 1000, 3),
        state=state,
    )
