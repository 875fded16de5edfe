"""A node's bounded history for the charts: one sample a second and the events between them.

A Sample is what one second looked like from this node (its append rates and latency, and the state it
reported: role, term, leader, each follower's lag and health); an Event is a moment to mark on the charts
(a follower's health changed, read-only on or off, an election, a new leader, this node started).
Both are kept for `seconds` (300: five minutes) and the events also up to `events_max`, oldest dropped.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EVENT_KINDS", "Event", "NodeState", "Sample", "SampleRing"]

EVENT_KINDS = ("health", "read_only", "election", "leader", "start")
RING_SECONDS = 300
EVENTS_MAX = 200


@dataclass(frozen=True, slots=True)
class NodeState:
    """What the node says of itself when a sample is taken; `lag` and `health` only while it leads."""

    role: str  # "leader" | "follower" | "candidate" | "master"
    term: int | None  # None for the fixed master, which has no terms
    leader: str | None
    last_index: int
    read_only: bool | None = None
    lag: dict[str, int] = field(default_factory=dict)  # follower name -> entries behind this leader
    health: dict[str, str] = field(default_factory=dict)  # follower name -> Healthy | Suspected | Unhealthy


@dataclass(frozen=True, slots=True)
class Sample:
    t: int  # unix seconds: the end of the second it describes, as Prometheus stamps a rate
    appends: dict[str, float]  # outcome -> appends answered per second (absent: none)
    p50_ms: float | None  # None: no append was stored in that second
    p99_ms: float | None
    state: NodeState

    def to_json(self) -> dict[str, Any]:
        s = self.state
        return {
            "t": self.t,
            "appends": self.appends,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "role": s.role,
            "term": s.term,
            "leader": s.leader,
            "last_index": s.last_index,
            "read_only": s.read_only,
            "lag": s.lag,
            "health": s.health,
        }


@dataclass(frozen=True, slots=True)
class Event:
    t: float  # unix seconds, to the millisecond
    kind: str  # one of EVENT_KINDS
    text: str  # the label drawn on the charts, e.g. "leader secondary-0 t7"
    node: str  # the node it is about (the new leader, the follower whose health changed)
    term: int | None = None
    seen_by: str = ""  # the node whose ring it comes from

    @property
    def key(self) -> str:
        """Equal for the same happening reported by several nodes (a new leader, a candidacy)."""
        if self.kind in ("leader", "election"):
            return f"{self.kind}|{self.term}|{self.node}"
        return f"{self.kind}|{self.seen_by}|{self.t:.3f}|{self.text}"

    def to_json(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "kind": self.kind,
            "text": self.text,
            "node": self.node,
            "term": self.term,
            "seen_by": self.seen_by,
            "key": self.key,
        }


class SampleRing:
    """The last `seconds` of samples (strictly increasing `t`) and the events of that window."""

    def __init__(self, node: str, seconds: int = RING_SECONDS, events_max: int = EVENTS_MAX) -> None:
        self.node = node
        self.seconds = seconds
        self._samples: deque[Sample] = deque(maxlen=seconds)
        self._events: list[Event] = []  # sorted by t
        self._events_max = events_max

    def add(self, sample: Sample) -> bool:
        """Keep `sample` unless it is not newer than the last one (a wall clock set back); say which."""
        if self._samples and sample.t <= self._samples[-1].t:
            return False
        self._samples.append(sample)
        self._forget_events_before(sample.t - self.seconds)
        return True

    def note(self, event: Event) -> None:
        """Keep an event in time order (stamped by this node; any late one goes where it belongs)."""
        bisect.insort(self._events, event, key=lambda e: e.t)
        if len(self._events) > self._events_max:
            del self._events[: len(self._events) - self._events_max]

    def samples(self, since: float | None = None) -> list[Sample]:
        if since is None:
            return list(self._samples)
        return [s for s in self._samples if s.t > since]

    def events(self, since: float | None = None) -> list[Event]:
        if since is None:
            return list(self._events)
        return self._events[bisect.bisect_right(self._events, since, key=lambda e: e.t) :]

    @property
    def latest(self) -> Sample | None:
        return self._samples[-1] if self._samples else None

    def _forget_events_before(self, t: float) -> None:
        keep_from = bisect.bisect_left(self._events, t, key=lambda e: e.t)
        if keep_from:
            del self._events[:keep_from]
