"""Prometheus metrics of a node, served at GET /metrics (prometheus-client's text format).

Events are counted where they happen (appends and their latency, fsync latency); state is read
from the node when Prometheus scrapes (indexes, lag, health, read-only, link counters), so the
hot path never updates a gauge. Each node has its own registry, so several nodes can live in
one process (tests, the simulator) without sharing numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from replog.samples import SecondAccumulator

__all__ = ["CONTENT_TYPE", "NodeMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
FSYNC_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)

Snapshot = Callable[[], Iterable[Metric]]


class _Scrape(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from self._snapshot()


class NodeMetrics:
    def __init__(self, role: str) -> None:
        self.registry = CollectorRegistry(auto_describe=False)  # Scrape-time state is read only when scraped.
        self.appends = Counter(
            "replog_appends",
            "Appends answered, by write concern and outcome",
            ["w", "outcome"],
            registry=self.registry,
        )
        self.append_seconds = Histogram(
            "replog_append_latency_seconds",
            "Time from receiving an append to answering it",
            ["w"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.fsync_seconds = Histogram(
            "replog_fsync_seconds",
            "Duration of one group-commit sync of the local log",
            buckets=FSYNC_BUCKETS_S,
            registry=self.registry,
        )
        self.role = role
        # labels() takes a lock and builds a key on every call; appends hit the same few children.
        self._append_children: dict[tuple[int, str], tuple[Any, Any]] = {}
        # The dashboard's charts: this second's appends, taken once a second by the node's sampler.
        self.per_second = SecondAccumulator()

    def watch(self, snapshot: Snapshot) -> None:
        """Register a function that reports the node's state as metric families at scrape time."""
        self.registry.register(_Scrape(snapshot))

    def observe_append(self, w: int, outcome: str, seconds: float) -> None:
        children = self._append_children.get((w, outcome))
        if children is None:
            children = (self.appends.labels(str(w), outcome), self.append_seconds.labels(str(w)))
            self._append_children[(w, outcome)] = children
        children[0].inc()
        if outcome in ("ok", "duplicate"):
            children[1].observe(seconds)
        self.per_second.record(outcome, seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), value)
    return family


def per_secondary(kind: type[Any], name: str, doc: str, values: dict[int, float]) -> Metric:
    family = kind(name, doc, labels=["secondary"])
    for secondary, value in values.items():
        family.add_metric([str(secondary)], value)
    return family


__all__ += ["CounterMetricFamily", "GaugeMetricFamily", "gauge", "per_secondary"]
