"""The dashboard's charts' data: each node keeps a bounded ring of one-second samples and of events.

Pure (no asyncio, sockets or clocks): the node's sampler (node/sampler.py) reads the time and the node's
state and feeds these; web/charts.py serves them as JSON at `GET /ui/samples`.

- second.py  what one second of appends was: counts by outcome, latency quantiles (SecondAccumulator)
- ring.py    Sample, Event and the bounded SampleRing, as JSON
- events.py  the Leader core's reports (health, read-only) as chart events
- merge.py   the view across nodes: whose samples to chart (the leader's), events merged and deduplicated
"""

from replog.samples.events import event_of
from replog.samples.merge import LeaderView, merge_events, pick_leader
from replog.samples.ring import EVENT_KINDS, Event, NodeState, Sample, SampleRing
from replog.samples.second import OUTCOMES, SecondAccumulator, make_sample, quantile

__all__ = [
    "EVENT_KINDS",
    "OUTCOMES",
    "Event",
    "LeaderView",
    "NodeState",
    "Sample",
    "SampleRing",
    "SecondAccumulator",
    "event_of",
    "make_sample",
    "merge_events",
    "pick_leader",
    "quantile",
]
