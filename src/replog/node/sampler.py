"""The node's sampler: once a wall-clock second, what the node did and how it stands, into its ring.

Wall-clock time (unix seconds), not the monotonic clock the cores use: the charts put the samples and
events of several nodes on one time axis, and an operator reads it against other dashboards. This is the
only place the charts read time. The rates and latencies come from the accumulator the append path
feeds (NodeMetrics.per_second); the rest from `state`, a function of the node that hosts the sampler.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from replog.node.leader_reports import Report
from replog.samples import Event, NodeState, SampleRing, SecondAccumulator, event_of, make_sample

__all__ = ["Sampler"]

log = logging.getLogger("replog.sampler")


class Sampler:
    def __init__(
        self,
        name: str,
        accumulator: SecondAccumulator,
        state: Callable[[], NodeState],
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.ring = SampleRing(name)
        self._accumulator = accumulator
        self._state = state
        self._wall = wall
        self._since = wall()  # the start of the span the next sample covers

    def note(self, kind: str, text: str, node: str, term: int | None = None) -> None:
        self.ring.note(Event(round(self._wall(), 3), kind, text, node, term, seen_by=self.name))

    def report(self, report: Report, peer_name: Callable[[int], str]) -> None:
        """A Leader core's report (health, read-only) as an event, if it is one to mark."""
        event = event_of(report, round(self._wall(), 3), self.name, peer_name)
        if event is not None:
            self.ring.note(event)

    def sample(self) -> None:
        """Close the span since the last sample: one Sample stamped with the current whole second."""
        now = self._wall()
        counts, latencies = self._accumulator.take()
        self.ring.add(make_sample(math.floor(now), now - self._since, counts, latencies, self._state()))
        self._since = now

    def view(self, since: float | None, events_since: float | None) -> dict[str, Any]:
        """The ring as `GET /ui/samples` serves it, with the node's state as of now."""
        state = self._state()
        return {
            "node": self.name,
            "role": state.role,
            "term": state.term,
            "leader": state.leader,
            "now": round(self._wall(), 3),
            "samples": [s.to_json() for s in self.ring.samples(since)],
            "events": [e.to_json() for e in self.ring.events(events_since)],
        }

    async def run(self) -> None:
        """Sample just after each wall-clock second turns, for as long as the node runs."""
        while True:
            now = self._wall()
            await asyncio.sleep(math.floor(now) + 1.001 - now)  # why: samples belong to whole seconds
            try:
                self.sample()
            except Exception:  # A chart must never take the node down: log it and try next second.
                log.exception("sampling failed")
