"""The metric families of a node that leads: the fixed master, or a failover leader of any term.

Per follower: acked index, lag, health, the link's reconnects and retries, and the entries streamed to
catch it up. The fixed master labels a follower by its secondary id (`secondary="0"`); a failover leader
by the follower's node name (`secondary="master"`), since with failover any node may follow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from prometheus_client.core import Metric

from replog.core.leader import Leader
from replog.core.outputs import CatchUp
from replog.metrics import CounterMetricFamily, GaugeMetricFamily, gauge, per_secondary
from replog.types import HealthState

__all__ = ["CatchUpCounts", "leader_families"]


class LinkCounts(Protocol):
    reconnects: int
    retries: int


class CatchUpCounts(dict[int, int]):
    """Entries streamed to catch each follower up, by peer, counted when a catch-up completes."""

    def count(self, report: object) -> None:
        if isinstance(report, CatchUp) and report.done:
            self[report.peer] = self.get(report.peer, 0) + report.to_index - report.from_index + 1


def leader_families(
    core: Leader, links: Mapping[int, LinkCounts], caught_up: Mapping[int, int], label: Callable[[int], str]
) -> Iterator[Metric]:
    yield gauge("replog_read_only", "1 while the leader has no quorum and refuses writes", int(core.read_only))
    yield gauge("replog_waiting_appends", "Appends waiting for their write concern", core.waiting())
    statuses = core.peer_status()
    acked = {label(s.peer): s.acked_index for s in statuses}
    yield per_secondary(GaugeMetricFamily, "replog_secondary_acked_index", "Highest index a follower acked", acked)
    lag = {label(s.peer): max(0, core.synced_index - s.acked_index) for s in statuses}
    yield per_secondary(GaugeMetricFamily, "replog_secondary_lag", "Entries a follower lacks", lag)
    health = GaugeMetricFamily("replog_secondary_health", "1 for the follower's state", labels=["secondary", "status"])
    for status in statuses:
        for state in HealthState:
            health.add_metric([label(status.peer), state.value], int(status.health is state))
    yield health
    # A link not made yet (a scrape before the node's start) has made no connection and waited no retry.
    reconnects = {label(s.peer): links[s.peer].reconnects if s.peer in links else 0 for s in statuses}
    yield per_secondary(CounterMetricFamily, "replog_link_reconnects", "Replication connections made", reconnects)
    retries = {label(s.peer): links[s.peer].retries if s.peer in links else 0 for s in statuses}
    yield per_secondary(CounterMetricFamily, "replog_link_retries", "Replication dial retries (backoff waits)", retries)
    streamed = {label(s.peer): caught_up.get(s.peer, 0) for s in statuses}
    yield per_secondary(
        CounterMetricFamily, "replog_catchup_entries", "Entries streamed to catch followers up", streamed
    )
