"""The chaos report's data on hand-made histories: per-second series, fault bands on the right lane,
leader intervals, failover windows, and violations placed in time with the records they refer to."""

from __future__ import annotations

import dataclasses

import pytest

from replog.chaos.checker import check
from replog.chaos.history import AppendRecord, Attempt, FaultRecord, FinalRecord, History, ReadRecord
from replog.chaos.schedule import LEADER
from replog.chaos.timeline import LOG_SHOWN, VIOLATIONS_SHOWN, build_timeline, mode_of
from replog.chaos.violation import Ref, Violation, ref
from tests.unit import test_chaos_checker as classic
from tests.unit import test_chaos_failover_checker as failover


def test_appends_are_counted_in_the_second_their_outcome_was_known() -> None:
    history = History(
        appends=[
            classic.ok("a", 1, 0.1, 0.2),
            classic.ok("b", 2, 0.3, 1.5),
            AppendRecord(0, "rid-c", "c", 2, 100, 1.2, 1.4, "timeout", index=3, status=504),
            AppendRecord(0, "rid-d", "d", 2, None, 2.5, 2.9, "error", status=503),
            AppendRecord(0, "rid-e", "e", 2, None, 2.2, None, "unknown"),  # never answered: its invoke counts
        ],
        meta={"duration": 3.0},
    )
    series = build_timeline(history, []).series
    assert series.acknowledged == [1, 1, 0]
    assert series.timed_out == [0, 1, 0]
    assert series.failed == [0, 0, 1]
    assert series.unknown == [0, 0, 1]


def test_a_leader_fault_is_drawn_on_the_node_that_led_and_a_failed_one_is_marked_not_applied() -> None:
    history = failover.clean()
    history.meta.update(urls={n: f"http://{n}" for n in failover.NODES}, duration=1.0)
    history.faults += [
        FaultRecord("one_way", "secondary-0>master", 0.1, 0.3),
        FaultRecord("pause_leader", LEADER, 0.7, 0.7, error="no leader to aim at"),
        FaultRecord("isolate_node", "secondary-1", 0.8, None, error="heal failed: nft exited 1"),
    ]
    timeline = build_timeline(history, [])
    bands = {b.kind: b for b in timeline.faults}
    assert (bands["kill_leader"].target, bands["kill_leader"].lane) == (LEADER, "master")
    assert bands["kill_leader"].applied and bands["one_way"].lane == "secondary-0>master"
    assert not bands["pause_leader"].applied and bands["pause_leader"].lane == LEADER
    assert bands["isolate_node"].applied  # the fault was made; only its heal failed
    assert bands["isolate_node"].end == bands["isolate_node"].start  # no recorded end: an instant
    assert [b.start for b in timeline.faults] == sorted(b.start for b in timeline.faults)
    assert timeline.lanes == [LEADER, *failover.NODES, "secondary-0>master"]


def test_the_classic_mode_has_no_leader_lane_and_keeps_proxies_apart_from_nodes() -> None:
    history = History(
        faults=[FaultRecord("partition", "proxy-1", 1.0, 2.0), FaultRecord("kill_master", "master", 3.0, 4.0)],
        meta={"urls": {"master": "u", "secondary-0": "u", "secondary-1": "u"}, "duration": 5.0},
    )
    timeline = build_timeline(history, [])
    assert timeline.mode == "classic"
    assert timeline.lanes == ["master", "secondary-0", "secondary-1", "proxy-1"]
    assert timeline.leaders == [] and timeline.windows == []


def test_leader_intervals_and_failover_windows() -> None:
    history = failover.clean()
    timeline = build_timeline(history, [])
    assert timeline.mode == "failover" and timeline.end == 1.0  # the last answer
    assert [(i.node, i.term, i.start, i.end) for i in timeline.leaders] == [
        ("master", 1, 0.0, 0.5),
        ("secondary-0", 2, 0.5, 1.0),
    ]
    # master killed at 0.4; c, the first ack sent after it (0.5), was answered at 0.6 (report.failover_windows).
    assert [(w.node, w.start, w.end, w.open) for w in timeline.windows] == [("master", 0.4, 0.6, False)]
    history.appends = [a for a in history.appends if a.invoke < 0.4]
    window = build_timeline(history, []).windows[0]
    assert window.open and window.end == build_timeline(history, []).end


def test_modes() -> None:
    assert mode_of(History()) == "classic"
    assert mode_of(History(meta={"failover": True})) == "failover"
    assert mode_of(History(meta={"failover": True, "net": "hosts"})) == "hosts"


def test_a_violation_is_placed_at_its_moment_with_its_records() -> None:
    history = failover.clean()
    history.finals = failover.finals(failover.FINAL[1:], failover.INDEXES[1:])  # a (w=2, acked at 0.1) lost
    violations = [v for v in check(history) if v.rule == "majority_ack_lost"]
    assert len(violations) == 1
    mark = build_timeline(history, violations).violations[0]
    assert (mark.at, mark.at_end) == (0.1, False)
    assert [(r["type"], r.get("request_id") or r.get("node")) for r in mark.records] == [
        ("append", "rid-a"),
        ("final", "master"),
    ]


def test_an_end_state_violation_sits_at_the_end_and_long_logs_are_cut() -> None:
    history = classic.clean()
    log = tuple(f"m{i}" for i in range(100))
    history.finals[0] = FinalRecord("master", log, converged=False)
    violation = Violation("final_logs_differ", "differs", refs=(ref(history.finals[0]),))
    timeline = build_timeline(history, [violation])
    mark = timeline.violations[0]
    assert mark.at_end and mark.at == timeline.end
    shown = mark.records[0]["log"]
    assert mark.records[0]["log_length"] == 100 and len(shown) == 2 * LOG_SHOWN + 1
    assert shown[0] == "m0" and shown[-1] == "m99" and "90 more" in shown[LOG_SHOWN]


def test_a_reference_to_no_record_is_dropped_and_a_flood_of_violations_is_capped() -> None:
    history = classic.clean()
    flood = [Violation("ack_missing", f"v{i}", at=0.5, refs=(Ref("append", "nobody"),)) for i in range(250)]
    timeline = build_timeline(history, flood)
    assert len(timeline.violations) == VIOLATIONS_SHOWN and timeline.violations_total == 250
    assert timeline.violations_by_rule == {"ack_missing": 250}
    assert timeline.violations[0].records == []


PLANTED = {
    "ack_missing": lambda h: setattr(h, "finals", classic.finals("a", "b", "c", "d", secondary_1=("a", "c", "d"))),
    "read_not_prefix": lambda h: h.reads.append(ReadRecord("secondary-1", 0.9, ("a", "c"))),
    "wrong_index": lambda h: h.appends.__setitem__(1, classic.ok("b", 3, 0.2, 0.3)),
    "duplicate_index": lambda h: h.appends.__setitem__(
        0,
        classic.ok(
            "a", 1, 0.0, 0.1, attempts=(Attempt("answer", 0.1, 201, 1, False), Attempt("answer", 0.15, 201, 1, False))
        ),
    ),
    "unknown_message": lambda h: setattr(h, "finals", classic.finals("a", "b", "c", "d", "zz")),
}


@pytest.mark.parametrize("rule", sorted(PLANTED))
def test_every_planted_violation_refers_to_records_of_its_history(rule: str) -> None:
    history = classic.clean()
    PLANTED[rule](history)
    violations = [v for v in check(history) if v.rule == rule]
    assert violations
    known = {ref(r) for r in [*history.appends, *history.reads, *history.finals]}
    for violation in violations:
        assert violation.refs and set(violation.refs) <= known, violation


def test_a_reference_survives_a_copy_of_its_record() -> None:
    append = classic.ok("a", 1, 0.0, 0.1)
    assert ref(dataclasses.replace(append)) == ref(append) == Ref("append", "rid-a")
    read = ReadRecord("master", 0.123456789, ("a",), committed=True)
    assert ref(read) != ref(dataclasses.replace(read, committed=False))
