"""The seeded fault schedule: which fault, on what, when, for how long.

Pure and decided up front from the seed, so one seed names one run's faults and a violation can be
replayed. Kinds are drawn from shuffled bags so that every kind comes up early in any run of
reasonable length; at most `max_concurrent` faults overlap, and a target never carries two faults at once
(SIGSTOP and kill -9 of the same process would fight each other). Every fault has an end: the runner
heals it then, and heals everything again at the end of the run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["FaultEvent", "FaultKind", "make_schedule"]


class FaultKind(StrEnum):
    PARTITION = "partition"  # proxy accepts and forwards nothing
    PROXY_DELAY = "proxy_delay"  # proxy delays every chunk both ways
    PROXY_DROP = "proxy_drop"  # proxy resets its connections and refuses new ones for a while
    PAUSE = "pause"  # SIGSTOP a secondary, SIGCONT it later
    KILL_SECONDARY = "kill_secondary"  # kill -9 a secondary, restart it later
    KILL_MASTER = "kill_master"  # kill -9 the master, restart it later
    SECONDARY_FAULTS = "secondary_faults"  # POST /faults on a secondary, reset later


# (shortest, longest) time a fault lasts, seconds.
DURATIONS: dict[FaultKind, tuple[float, float]] = {
    FaultKind.PARTITION: (0.5, 3.0),
    FaultKind.PROXY_DELAY: (1.0, 4.0),
    FaultKind.PROXY_DROP: (0.2, 1.5),
    FaultKind.PAUSE: (0.3, 2.5),
    FaultKind.KILL_SECONDARY: (0.2, 2.0),
    FaultKind.KILL_MASTER: (0.1, 1.5),
    FaultKind.SECONDARY_FAULTS: (1.0, 4.0),
}


@dataclass(frozen=True, slots=True)
class FaultEvent:
    kind: FaultKind
    target: str  # "master", "secondary-N" or "proxy-N"
    start: float  # seconds since the run started
    end: float
    params: dict[str, Any] = field(default_factory=dict)


def make_schedule(
    seed: int,
    duration: float,
    secondaries: int = 2,
    *,
    warmup: float = 1.0,
    quiet_tail: float = 1.0,
    max_concurrent: int = 2,
) -> list[FaultEvent]:
    """Faults starting in [warmup, duration - quiet_tail), each ending by `duration`."""
    rng = random.Random(seed)
    events: list[FaultEvent] = []
    busy_until: dict[str, float] = {}
    bag: list[FaultKind] = []
    t = warmup
    last_start = duration - quiet_tail
    while t < last_start:
        if not bag:
            bag = list(FaultKind)
            rng.shuffle(bag)
        active = [e for e in events if e.end > t]
        if len(active) >= max_concurrent:
            t = min(e.end for e in active) + 0.05
            continue
        kind = bag[-1]
        targets = [name for name in _targets(kind, secondaries) if busy_until.get(name, 0.0) <= t]
        if not targets:
            t += 0.2
            continue
        bag.pop()
        target = rng.choice(targets)
        low, high = DURATIONS[kind]
        end = min(duration, t + rng.uniform(low, high))
        events.append(FaultEvent(kind, target, round(t, 3), round(end, 3), _params(kind, rng)))
        busy_until[target] = end
        t += rng.uniform(0.3, 1.5)
    return events


def _targets(kind: FaultKind, secondaries: int) -> list[str]:
    if kind is FaultKind.KILL_MASTER:
        return ["master"]
    if kind in (FaultKind.PARTITION, FaultKind.PROXY_DELAY, FaultKind.PROXY_DROP):
        return [f"proxy-{i}" for i in range(secondaries)]
    return [f"secondary-{i}" for i in range(secondaries)]


def _params(kind: FaultKind, rng: random.Random) -> dict[str, Any]:
    if kind is FaultKind.PROXY_DELAY:
        return {"delay_ms": rng.randint(20, 250)}
    if kind is FaultKind.SECONDARY_FAULTS:
        variant = rng.choice(
            ["error_after_append", "error_after_append", "delay_ms", "internal_looping", "unavailable"]
        )
        if variant == "error_after_append":
            return {"error_after_append": round(rng.uniform(0.1, 0.5), 2), "delay_ms": [0, rng.randint(0, 50)]}
        if variant == "delay_ms":
            low = rng.randint(0, 100)
            return {"delay_ms": [low, low + rng.randint(0, 300)]}
        if variant == "internal_looping":
            return {"internal_looping": round(rng.uniform(0.3, 2.0), 2)}
        return {"server_unavailable": round(rng.uniform(0.3, 2.0), 2)}
    return {}
