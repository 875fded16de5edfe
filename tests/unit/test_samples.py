"""The charts' data, without a node: quantiles, per-second rates, the bounded ring, events and merging."""

from __future__ import annotations

import random

import pytest

from replog.core.outputs import CatchUp, HealthChanged, ReadOnlyChanged
from replog.node.names import node_name
from replog.node.sampler import Sampler
from replog.samples import (
    Event,
    NodeState,
    Sample,
    SampleRing,
    SecondAccumulator,
    event_of,
    make_sample,
    merge_events,
    pick_leader,
    quantile,
)
from replog.samples.second import LATENCIES_MAX
from replog.types import HealthState

STATE = NodeState(role="master", term=None, leader="master", last_index=0)


def sample_at(t: int) -> Sample:
    return make_sample(t, 1.0, {}, [], STATE)


# ------------------------------------------------------------------ quantiles


def test_quantile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert quantile(values, 0.5) == 50
    assert quantile(values, 0.99) == 99
    assert quantile(values, 1.0) == 100
    assert quantile([7.0], 0.5) == quantile([7.0], 0.99) == 7
    assert quantile([1.0, 2.0], 0.5) == 1
    assert quantile([], 0.5) is None


def test_a_sample_has_rates_per_second_and_quantiles_in_ms() -> None:
    latencies = [0.001 * v for v in range(100, 0, -1)]  # unsorted: 1..100 ms
    sample = make_sample(1000, 2.0, {"ok": 90, "duplicate": 10, "read_only": 4, "error": 0}, latencies, STATE)
    assert sample.t == 1000
    assert sample.appends == {"ok": 45.0, "duplicate": 5.0, "read_only": 2.0}  # per second over 2 s; no zeros
    assert sample.p50_ms == 50.0
    assert sample.p99_ms == 99.0
    empty = make_sample(1001, 1.0, {"timeout": 3}, [], STATE)
    assert (empty.p50_ms, empty.p99_ms) == (None, None)  # a gap on the chart, not a zero latency
    assert empty.to_json()["appends"] == {"timeout": 3.0}


# ---------------------------------------------------------------- accumulator


def test_the_accumulator_counts_outcomes_and_keeps_stored_latencies_until_taken() -> None:
    acc = SecondAccumulator()
    for outcome, seconds in [("ok", 0.01), ("ok", 0.02), ("duplicate", 0.005), ("read_only", 0.0), ("timeout", 0.5)]:
        acc.record(outcome, seconds)
    counts, latencies = acc.take()
    assert counts == {"ok": 2, "duplicate": 1, "read_only": 1, "timeout": 1}
    assert latencies == [0.01, 0.02, 0.005]  # refusals and timeouts are not latencies (as the histogram)
    assert acc.take() == ({}, [])


def test_the_accumulator_bounds_latencies_with_a_uniform_reservoir() -> None:
    acc = SecondAccumulator(random.Random(1))
    total = LATENCIES_MAX * 3
    for i in range(total):
        acc.record("ok", float(i))
    counts, latencies = acc.take()
    assert counts == {"ok": total}
    assert len(latencies) == LATENCIES_MAX
    # A uniform sample of 0..3N: about a third from each third, and the median near the true one.
    thirds = [sum(1 for v in latencies if k * LATENCIES_MAX <= v < (k + 1) * LATENCIES_MAX) for k in range(3)]
    assert all(abs(third - LATENCIES_MAX / 3) < LATENCIES_MAX * 0.03 for third in thirds), thirds
    assert abs(quantile(sorted(latencies), 0.5) - total / 2) < total * 0.02


# ----------------------------------------------------------------------- ring


def test_the_ring_keeps_the_last_seconds_in_order() -> None:
    ring = SampleRing("master", seconds=5)
    for t in range(100, 110):
        assert ring.add(sample_at(t))
    assert [s.t for s in ring.samples()] == [105, 106, 107, 108, 109]
    assert [s.t for s in ring.samples(since=107)] == [108, 109]
    assert ring.samples(since=109) == []
    assert not ring.add(sample_at(109)), "a wall clock set back must not put a sample out of order"
    assert not ring.add(sample_at(50))
    assert ring.latest is not None and ring.latest.t == 109


def test_events_stay_in_time_order_bounded_by_count_and_window() -> None:
    ring = SampleRing("master", seconds=10, events_max=3)
    for t in (100.5, 102.0, 101.25):  # one stamped late goes where it belongs
        ring.note(Event(t, "health", f"at {t}", "secondary-0", seen_by="master"))
    assert [e.t for e in ring.events()] == [100.5, 101.25, 102.0]
    assert [e.t for e in ring.events(since=101.25)] == [102.0]
    ring.note(Event(103.0, "read_only", "read-only off", "master", seen_by="master"))
    assert [e.t for e in ring.events()] == [101.25, 102.0, 103.0]  # events_max: the oldest goes
    ring.add(sample_at(112))  # the window is now 102..112
    assert [e.t for e in ring.events()] == [102.0, 103.0]


# --------------------------------------------------------------------- events


def test_leader_reports_become_marks() -> None:
    health = event_of(HealthChanged(1, HealthState.HEALTHY, HealthState.UNHEALTHY), 5.0, "master", node_name)
    assert health == Event(5.0, "health", "secondary-0 Unhealthy", "secondary-0", seen_by="master")
    on = event_of(ReadOnlyChanged(True, 1, 2), 6.0, "master", node_name)
    assert on is not None and (on.kind, on.text) == ("read_only", "read-only on (1 alive, 2 needed)")
    off = event_of(ReadOnlyChanged(False, 3, 2), 7.0, "master", node_name)
    assert off is not None and off.text == "read-only off"
    assert event_of(CatchUp(1, 1, 9, True), 8.0, "master", node_name) is None


def test_merging_keeps_one_mark_per_new_leader_and_orders_by_time() -> None:
    def seen(by: str, t: float, kind: str, node: str, term: int | None = None) -> dict[str, object]:
        return Event(t, kind, f"{kind} {node}", node, term, seen_by=by).to_json()

    follower = [seen("secondary-1", 10.2, "leader", "secondary-0", 7), seen("secondary-1", 9.0, "start", "x")]
    leader = [
        seen("secondary-0", 9.9, "election", "secondary-0", 7),
        seen("secondary-0", 10.1, "leader", "secondary-0", 7),
        seen("secondary-0", 11.0, "health", "master"),
    ]
    merged = merge_events([follower, leader, []])
    assert [(e["t"], e["kind"]) for e in merged] == [
        (9.0, "start"),
        (9.9, "election"),
        (10.1, "leader"),  # the earliest sighting of leader secondary-0 in term 7, once
        (11.0, "health"),
    ]


def test_the_leader_to_follow_is_the_one_leading_in_the_highest_term() -> None:
    def ring(node: str, role: str, term: int | None) -> dict[str, object]:
        return {"node": node, "role": role, "term": term, "samples": [], "events": []}

    own = ring("secondary-0", "follower", 7)
    stale = ring("master", "leader", 6)  # deposed, not told yet
    view = pick_leader([own, stale, ring("secondary-1", "leader", 7)], own=0)
    assert (view.name, view.term, view.index) == ("secondary-1", 7, 2)
    assert pick_leader([own, None, ring("secondary-1", "candidate", 8)], own=0).name is None
    assert pick_leader([own, None, None], own=0).index == 0
    fixed = pick_leader([ring("master", "master", None)], own=0)
    assert (fixed.name, fixed.term) == ("master", None)


# -------------------------------------------------------------------- sampler


class FakeWall:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_sampler_turns_each_span_into_one_sample() -> None:
    wall = FakeWall(1000.2)
    acc = SecondAccumulator()
    states = iter([STATE, NodeState("master", None, "master", 5, lag={"secondary-0": 3})])
    sampler = Sampler("master", acc, lambda: next(states), wall=wall)
    for _ in range(10):
        acc.record("ok", 0.004)
    wall.now = 1001.001  # just after the second turned
    sampler.sample()
    acc.record("read_only", 0.0)
    wall.now = 1003.5  # the loop was late: one sample covers 2.5 s
    sampler.sample()
    first, second = sampler.ring.samples()
    assert first.t == 1001 and first.appends == {"ok": pytest.approx(10 / 0.801, rel=1e-3)}
    assert first.p50_ms == first.p99_ms == 4.0
    assert second.t == 1003 and second.appends == {"read_only": 0.4} and second.p50_ms is None
    assert second.state.lag == {"secondary-0": 3}


def test_the_sampler_serves_its_ring_since_a_time() -> None:
    wall = FakeWall(2000.0)
    sampler = Sampler("secondary-0", SecondAccumulator(), lambda: NodeState("follower", 3, "master", 9), wall=wall)
    sampler.note("leader", "leader master t3", "master", 3)
    for now in (2001.0, 2002.0, 2003.0):
        wall.now = now
        sampler.sample()
    view = sampler.view(since=2001, events_since=1990)
    assert (view["node"], view["role"], view["term"], view["leader"]) == ("secondary-0", "follower", 3, "master")
    assert [s["t"] for s in view["samples"]] == [2002, 2003]
    assert [e["key"] for e in view["events"]] == ["leader|3|master"]
    assert sampler.view(since=2003, events_since=2003)["events"] == []
