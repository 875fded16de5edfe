"""Health of a secondary and quorum of the cluster, as pure functions.

A secondary is Healthy while the master heard from it within `suspect_after_ms`, Suspected
until `unhealthy_after_ms`, and Unhealthy after that or whenever its link is down. Suspected
secondaries still count towards quorum: a missed heartbeat or two is not a reason to stop
accepting writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from replog.types import HealthState

__all__ = ["HealthThresholds", "classify", "has_quorum", "quorum_needed"]


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    suspect_after_ms: int
    unhealthy_after_ms: int

    def __post_init__(self) -> None:
        if not 0 < self.suspect_after_ms < self.unhealthy_after_ms:
            raise ValueError("need 0 < suspect_after_ms < unhealthy_after_ms")


def classify(silence_ms: int | None, thresholds: HealthThresholds) -> HealthState:
    """`silence_ms` is the time since the last frame heard; None: the link is down, or its Hello not yet accepted."""
    if silence_ms is None or silence_ms >= thresholds.unhealthy_after_ms:
        return HealthState.UNHEALTHY
    if silence_ms >= thresholds.suspect_after_ms:
        return HealthState.SUSPECTED
    return HealthState.HEALTHY


def quorum_needed(secondaries_total: int) -> int:
    """A majority of the master plus its secondaries."""
    return (secondaries_total + 1) // 2 + 1


def has_quorum(states: list[HealthState]) -> bool:
    alive = 1 + sum(state is not HealthState.UNHEALTHY for state in states)
    return alive >= quorum_needed(len(states))
