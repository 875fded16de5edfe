"""The failover checker on hand-made histories: a clean failover passes (a w=1 ack undone into a rollback
file, a 503 whose entry was kept, a plain read of an entry later rolled back), and each new rule catches
its own violation. Also the failover schedule and the run's failover figures.
"""

from __future__ import annotations

import dataclasses

import pytest

from replog.chaos.checker import check
from replog.chaos.history import (
    AppendRecord,
    Attempt,
    FaultRecord,
    FinalRecord,
    History,
    LeaderRecord,
    ReadRecord,
    RollbackRecord,
    StallRecord,
)
from replog.chaos.report import failover_figures
from replog.chaos.schedule import FAILOVER_KINDS, LEADER, FaultKind, make_failover_schedule

NODES = ("master", "secondary-0", "secondary-1")
FINAL = ("a", "c", "d", "e", "g")
INDEXES = (2, 4, 5, 6, 7)  # 1 and 3 are the no-ops of terms 1 and 2: readers never see them


def acked(msg: str, index: int, w: int, invoke: float, complete: float, node: str = "master", *tries: Attempt):
    attempts = tries or (Attempt("answer", complete, 201, index, False, node=node, sent=invoke),)
    return AppendRecord(0, f"rid-{msg}", msg, w, None, invoke, complete, "ok", index, False, 201, None, attempts, node)


def finals(log: tuple[str, ...] = FINAL, indexes: tuple[int, ...] = INDEXES, **overrides) -> list[FinalRecord]:
    records = []
    for node in NODES:
        node_log, node_indexes = overrides.get(node.replace("-", "_"), (log, indexes))
        records.append(FinalRecord(node, node_log, True, True, node_indexes, 2, "secondary-0"))
    return records


def clean() -> History:
    """a (w=2) on master in term 1; b (w=1) acked by master, then master killed: b is in its rollback file;
    secondary-0 leads term 2: c (w=3, via secondary-1), d (w=1), e (w=2, after a lost try and a 503),
    g (three 503s, yet kept: a 503 proves nothing with failover on), f (503s, not kept)."""
    no_leader = "no leader: election in progress (term 2)"
    e_tries = (
        Attempt("lost", 0.75, node="master"),
        Attempt("answer", 0.76, 503, text=no_leader, node="secondary-0"),
        Attempt("answer", 0.8, 201, 6, False, node="secondary-1", sent=0.77),
    )
    g_tries = tuple(Attempt("answer", 0.9 + i / 100, 503, text=no_leader, node=n) for i, n in enumerate(NODES))
    return History(
        appends=[
            acked("a", 2, 2, 0.0, 0.1),
            acked("b", 3, 1, 0.2, 0.3),
            acked("c", 4, 3, 0.5, 0.6, "secondary-1"),
            acked("d", 5, 1, 0.65, 0.7, "secondary-0"),
            acked("e", 6, 2, 0.72, 0.8, "secondary-1", *e_tries),
            AppendRecord(1, "rid-g", "g", 2, None, 0.9, 0.95, "error", status=503, attempts=g_tries, node="master"),
            AppendRecord(1, "rid-f", "f", 2, None, 0.96, 1.0, "error", status=503, attempts=g_tries, node="master"),
        ],
        reads=[
            ReadRecord("secondary-0", 0.2, ("a",), committed=True),
            ReadRecord("master", 0.35, ("a", "b")),  # b was only on master: a plain read may show it
            ReadRecord("secondary-0", 0.9, ("a", "c"), committed=True),
        ],
        faults=[FaultRecord("kill_leader", LEADER, 0.4, 0.6, {"node": "master"})],
        finals=finals(),
        rollbacks=[RollbackRecord("master", "1-3-3.jsonl", 3, 1, "rid-b", "b")],
        leaders=[LeaderRecord(0.0, "master", 1), LeaderRecord(0.5, "secondary-0", 2)],
        meta={"failover": True},
    )


def rules(history: History) -> set[str]:
    return {v.rule for v in check(history)}


def test_a_clean_failover_history_passes() -> None:
    assert check(clean()) == []


def test_the_same_history_without_failover_would_be_judged_by_the_classic_rules() -> None:
    history = clean()
    history.meta = {}
    assert {"ack_missing", "read_not_prefix"} <= rules(history)


def test_a_w2_ack_missing_from_the_final_log() -> None:
    history = clean()
    history.finals = finals(FINAL[1:], INDEXES[1:])
    violations = [v for v in check(history) if v.rule == "majority_ack_lost"]
    assert len(violations) == 1 and "'a'" in violations[0].detail


def test_a_w2_ack_only_in_a_rollback_file_is_still_lost() -> None:
    history = clean()
    history.finals = finals(FINAL[1:], INDEXES[1:])
    history.rollbacks.append(RollbackRecord("master", "1-2-2.jsonl", 2, 1, "rid-a", "a"))
    violations = [v for v in check(history) if v.rule == "majority_ack_lost"]
    assert len(violations) == 1 and "in a rollback file" in violations[0].detail


def test_a_w2_ack_at_another_index() -> None:
    history = clean()
    history.appends[2] = acked("c", 3, 3, 0.5, 0.6, "secondary-1")
    assert "majority_ack_moved" in rules(history)


def test_a_w2_duplicate_answer_naming_another_index() -> None:
    history = clean()
    tries = (Attempt("answer", 0.6, 201, 4, False), Attempt("answer", 0.62, 200, 9, True, probe=True))
    history.appends[2] = acked("c", 4, 3, 0.5, 0.6, "secondary-1", *tries)
    violations = [v for v in check(history) if v.rule == "majority_ack_moved"]
    assert len(violations) == 1 and "[9]" in violations[0].detail


def test_a_w1_ack_neither_in_the_log_nor_rolled_back() -> None:
    history = clean()
    history.rollbacks = []
    violations = [v for v in check(history) if v.rule == "w1_ack_vanished"]
    assert len(violations) == 1 and "'b'" in violations[0].detail


def test_a_w1_ack_rolled_back_at_another_index_is_not_its_rollback() -> None:
    history = clean()
    history.rollbacks = [RollbackRecord("master", "1-4-4.jsonl", 4, 1, "rid-b", "b")]
    assert "w1_ack_vanished" in rules(history)


def test_a_w1_ack_undone_then_appended_again_by_its_resend() -> None:
    history = clean()
    tries = (Attempt("answer", 0.3, 201, 3, False), Attempt("answer", 0.31, 201, 8, False, probe=True))
    history.appends[1] = acked("b", 3, 1, 0.2, 0.3, "master", *tries)
    history.finals = finals((*FINAL, "b"), (*INDEXES, 8))
    assert check(history) == []


def test_a_retried_request_id_in_the_final_log_twice() -> None:
    history = clean()
    history.finals = finals((*FINAL, "e"), (*INDEXES, 8))
    assert {"request_id_twice", "duplicate_message"} <= rules(history)


def test_a_committed_view_that_shrinks() -> None:
    history = clean()
    history.reads.append(ReadRecord("secondary-0", 1.0, ("a",), committed=True))
    violations = [v for v in check(history) if v.rule == "committed_shrank"]
    assert len(violations) == 1 and "from 2 entries" in violations[0].detail


def test_a_committed_view_may_restart_after_the_node_restarted() -> None:
    history = clean()
    history.reads.append(ReadRecord("secondary-0", 1.0, ("a",), committed=True))
    history.faults.append(FaultRecord("kill_node", "secondary-0", 0.95, 0.97))
    assert check(history) == []


def test_a_committed_read_that_is_not_a_prefix() -> None:
    history = clean()
    history.reads.append(ReadRecord("secondary-1", 1.0, ("a", "d"), committed=True))
    assert rules(history) == {"committed_not_prefix"}


def test_final_logs_with_the_same_messages_at_other_indexes() -> None:
    history = clean()
    history.finals = finals(secondary_1=(FINAL, (2, 3, 5, 6, 7)))
    assert rules(history) == {"final_logs_differ"}


def test_a_refused_append_that_was_stored_anyway() -> None:
    history = clean()
    tries = (Attempt("refused", 0.9, node="master"), Attempt("answer", 0.91, 400, node="secondary-0"))
    history.appends.append(AppendRecord(2, "rid-h", "h", 2, None, 0.9, 0.91, "error", attempts=tries))
    history.finals = finals((*FINAL, "h"), (*INDEXES, 8))
    assert rules(history) == {"refused_but_present"}


def test_real_time_order_among_the_entries_that_survived() -> None:
    history = clean()
    history.appends[2] = acked("c", 5, 3, 0.5, 0.6, "secondary-1")  # answered at 0.6 with index 5...
    history.appends[3] = acked("d", 4, 1, 0.65, 0.7, "secondary-0")  # ...before d was sent, which got 4
    history.finals = finals(("a", "d", "c", "e", "g"), INDEXES)
    history.reads = []
    assert rules(history) == {"real_time_order"}


def test_a_leader_that_never_served_its_term() -> None:
    history = clean()
    history.stalls.append(StallRecord("secondary-0", 6, 12.0, 17.1))
    violations = check(history)
    assert [v.rule for v in violations] == ["leader_stalled"] and "term 6" in violations[0].detail


def test_the_failover_figures() -> None:
    history = clean()
    # An answer the dead leader sent before dying, arriving after its death, does not end the window.
    late = Attempt("answer", 0.45, 201, 3, False, node="secondary-1", sent=0.35)
    history.appends.append(acked("z", 3, 1, 0.35, 0.45, "secondary-1", late))
    figures = failover_figures(history)
    assert figures["elections"] == 1 and figures["leader_changes"] == 1
    assert figures["unavailability_s"] == [0.2]  # master killed at 0.4; c, sent at 0.5, answered at 0.6
    assert figures["rolled_back_entries"] == 1 and figures["rolled_back_w1_acks_lost"] == 1
    assert figures["committed_reads"] == 2


@pytest.mark.parametrize("seed", [1, 2, 3, 42])
def test_the_failover_schedule_is_seeded_and_never_stacks_two_process_or_two_link_faults(seed: int) -> None:
    schedule = make_failover_schedule(seed, 60.0)
    assert schedule == make_failover_schedule(seed, 60.0)
    assert make_failover_schedule(seed + 1, 60.0) != schedule
    assert {e.kind for e in schedule} == set(FAILOVER_KINDS)
    leader_kinds = {FaultKind.KILL_LEADER, FaultKind.PAUSE_LEADER, FaultKind.ISOLATE_LEADER}
    assert all((e.target == LEADER) == (e.kind in leader_kinds) for e in schedule)
    process = {FaultKind.KILL_NODE, FaultKind.PAUSE_NODE, FaultKind.KILL_LEADER, FaultKind.PAUSE_LEADER}
    for event in schedule:
        overlapping = [o for o in schedule if o is not event and o.start < event.end and event.start < o.end]
        assert len([o for o in overlapping if o.start <= event.start]) <= 1  # at most two at once
        if event.kind in process:
            assert not [o for o in overlapping if o.kind in process]
    assert sum(e.kind in leader_kinds for e in schedule) >= len(schedule) // 3


def test_history_round_trip_keeps_the_failover_records(tmp_path) -> None:
    from replog.chaos.history import HistoryWriter, load_history

    history = clean()
    writer = HistoryWriter(tmp_path / "h.jsonl")
    writer.write_meta(failover=True)
    for record in [*history.appends, *history.reads, *history.faults, *history.finals, *history.rollbacks]:
        writer.write(record)
    history.stalls.append(StallRecord("master", 3, 1.0, 6.0))
    for record in [*history.leaders, *history.stalls]:
        writer.write(record)
    writer.close()
    loaded = load_history(tmp_path / "h.jsonl")
    assert dataclasses.astuple(loaded) == dataclasses.astuple(history)
