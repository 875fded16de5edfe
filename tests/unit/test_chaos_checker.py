"""The chaos checker on hand-made histories: a clean one passes, and each rule catches its own violation.

Also the parts of `replog chaos` that are pure: the history's JSON-lines round trip and the seeded schedule.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from replog.chaos.checker import RULES, check
from replog.chaos.history import (
    AppendRecord,
    Attempt,
    FaultRecord,
    FinalRecord,
    History,
    HistoryWriter,
    ReadRecord,
    load_history,
)
from replog.chaos.schedule import CLASSIC_KINDS, make_schedule

NODES = ("master", "secondary-0", "secondary-1")


def ok(msg: str, index: int, invoke: float, complete: float, *, duplicate: bool = False, **kw: object) -> AppendRecord:
    status = 200 if duplicate else 201
    attempts = kw.pop("attempts", (Attempt("answer", complete, status, index, duplicate),))
    return AppendRecord(
        client=0,
        request_id=f"rid-{msg}",
        msg=msg,
        w=2,
        timeout_ms=None,
        invoke=invoke,
        complete=complete,
        outcome="ok",
        index=index,
        duplicate=duplicate,
        status=status,
        attempts=attempts,  # type: ignore[arg-type]
    )


def failed(msg: str, *attempts: Attempt, outcome: str = "error") -> AppendRecord:
    return AppendRecord(0, f"rid-{msg}", msg, 3, None, 0.0, 1.0, outcome, attempts=attempts)  # type: ignore[arg-type]


def finals(*log: str, **overrides: tuple[str, ...]) -> list[FinalRecord]:
    return [FinalRecord(node, overrides.get(node.replace("-", "_"), tuple(log)), True) for node in NODES]


def clean() -> History:
    """a, b, c acknowledged in order; d timed out (kept); e unknown (absent); f refused (absent)."""
    return History(
        appends=[
            ok("a", 1, 0.0, 0.1),
            ok("b", 2, 0.2, 0.3),
            ok("c", 3, 0.25, 0.5, attempts=(Attempt("lost", 0.3), Attempt("answer", 0.5, 200, 3, True))),
            AppendRecord(1, "rid-d", "d", 3, 100, 0.6, 0.7, "timeout", index=4, status=504),
            failed("e", Attempt("lost", 0.9), outcome="unknown"),
            failed("f", Attempt("refused", 0.9), Attempt("answer", 1.0, 503)),
        ],
        reads=[ReadRecord("secondary-0", 0.4, ("a", "b")), ReadRecord("master", 0.8, ("a", "b", "c", "d"))],
        faults=[FaultRecord("pause", "secondary-0", 0.1, 0.5)],
        finals=finals("a", "b", "c", "d"),
    )


def rules(history: History) -> set[str]:
    return {v.rule for v in check(history)}


def test_a_clean_history_passes() -> None:
    assert check(clean()) == []


def test_overlapping_appends_may_take_either_order() -> None:
    history = clean()
    history.appends[:2] = [ok("a", 2, 0.0, 0.3), ok("b", 1, 0.1, 0.2)]
    history.finals = finals("b", "a", "c", "d")
    history.reads = []
    assert check(history) == []


def test_no_final_logs() -> None:
    history = clean()
    history.finals = []
    assert rules(history) == {"no_final_logs"}


def test_a_node_that_did_not_answer_at_the_end() -> None:
    history = clean()
    history.finals[0] = FinalRecord("master", (), converged=False, readable=False)
    assert [v.rule for v in check(history)] == ["node_unreadable"]  # the others are still judged, and pass
    history.finals = [FinalRecord(node, (), False, readable=False) for node in NODES]
    assert rules(history) == {"no_final_logs", "node_unreadable"}


def test_an_acknowledged_append_missing_from_one_node() -> None:
    history = clean()
    history.finals = finals("a", "b", "c", "d", secondary_1=("a", "c", "d"))
    violations = check(history)
    assert {v.rule for v in violations} == {"ack_missing", "final_logs_differ"}
    assert any("'b'" in v.detail and "secondary-1" in v.detail for v in violations if v.rule == "ack_missing")


def test_final_logs_that_differ_only_in_order() -> None:
    history = clean()
    history.finals = finals("a", "b", "c", "d", secondary_0=("a", "c", "b", "d"))
    assert rules(history) == {"final_logs_differ"}


def test_a_message_twice_in_a_final_log() -> None:
    history = clean()
    history.finals = finals("a", "b", "c", "d", "b")
    violations = [v for v in check(history) if v.rule == "duplicate_message"]
    assert len(violations) == 3 and "at indexes [2, 5]" in violations[0].detail


def test_a_message_twice_in_a_read() -> None:
    history = clean()
    history.reads.append(ReadRecord("secondary-1", 0.9, ("a", "b", "b")))
    assert "duplicate_message" in rules(history)


def test_a_read_that_is_not_a_prefix_of_the_final_log() -> None:
    history = clean()
    history.reads.append(ReadRecord("secondary-1", 0.9, ("a", "c")))
    assert rules(history) == {"read_not_prefix"}


def test_a_read_longer_than_the_final_log() -> None:
    history = clean()
    history.reads.append(ReadRecord("master", 0.9, ("a", "b", "c", "d", "e")))
    assert rules(history) == {"read_not_prefix"}


def test_real_time_order_violated() -> None:
    history = clean()
    history.appends[:2] = [ok("a", 2, 0.0, 0.1), ok("b", 1, 0.2, 0.3)]  # a answered before b was sent
    history.finals = finals("b", "a", "c", "d")
    history.reads = []
    violations = check(history)
    assert {v.rule for v in violations} == {"real_time_order"}
    assert "'a' got index 2" in violations[0].detail


def test_real_time_order_counts_a_504s_index() -> None:
    history = clean()
    history.appends.append(ok("g", 4, 0.8, 0.9))  # sent after d's 504 named index 4
    history.finals = finals("a", "b", "c", "g", "d")
    assert "real_time_order" in rules(history)


def test_an_acknowledged_index_that_holds_another_message() -> None:
    history = clean()
    history.appends[1] = ok("b", 3, 0.2, 0.3)
    assert "wrong_index" in rules(history)


def test_a_duplicate_answer_that_does_not_carry_the_first_index() -> None:
    history = clean()
    history.appends[2] = ok("c", 2, 0.25, 0.5, duplicate=True)
    assert "wrong_index" in rules(history)


def test_a_504_whose_message_sits_elsewhere() -> None:
    history = clean()
    history.finals = finals("a", "b", "d", "c")
    history.reads = []
    assert "wrong_index" in rules(history)


def test_a_504_whose_message_is_absent_is_fine() -> None:
    history = clean()
    history.finals = finals("a", "b", "c")
    history.reads = [ReadRecord("secondary-0", 0.4, ("a", "b"))]
    assert check(history) == []


def test_one_request_id_answered_with_two_indexes() -> None:
    history = clean()
    attempts = (Attempt("answer", 0.1, 201, 1, False), Attempt("answer", 0.15, 200, 2, True, probe=True))
    history.appends[0] = ok("a", 1, 0.0, 0.1, attempts=attempts)
    violations = [v for v in check(history) if v.rule == "duplicate_index"]
    assert len(violations) == 1 and "[1, 2]" in violations[0].detail


def test_a_resent_request_id_answered_as_new() -> None:
    history = clean()
    attempts = (Attempt("answer", 0.1, 201, 1, False), Attempt("answer", 0.15, 201, 1, False, probe=True))
    history.appends[0] = ok("a", 1, 0.0, 0.1, attempts=attempts)
    assert rules(history) == {"duplicate_index"}


def test_a_message_nobody_sent() -> None:
    history = clean()
    history.finals = finals("a", "b", "c", "d", "zzz")
    assert rules(history) == {"unknown_message"}


def test_a_refused_append_that_was_stored_anyway() -> None:
    history = clean()
    history.finals = finals("a", "b", "c", "d", "f")
    violations = [v for v in check(history) if v.rule == "refused_but_present"]
    assert len(violations) == 3 and "refused, 503" in violations[0].detail


def test_a_refusal_after_a_lost_try_may_be_stored() -> None:
    history = clean()
    history.appends.append(failed("h", Attempt("lost", 1.0), Attempt("answer", 1.1, 503)))
    history.finals = finals("a", "b", "c", "d", "h")
    assert check(history) == []


def test_every_rule_is_exercised_here() -> None:
    """Keep this file honest: a rule added to the checker needs a test above that breaks it."""
    source = Path(__file__).read_text() + (Path(__file__).parent / "test_chaos_failover_checker.py").read_text()
    assert all(f'"{rule}"' in source for rule in RULES)


def test_history_round_trip_through_json_lines(tmp_path: Path) -> None:
    history = clean()
    writer = HistoryWriter(tmp_path / "history.jsonl")
    writer.write_meta(seed=7)
    for record in [*history.appends, *history.reads, *history.faults, *history.finals]:
        writer.write(record)
    writer.close()
    loaded = load_history(tmp_path / "history.jsonl")
    assert loaded.appends == history.appends
    assert loaded.reads == history.reads
    assert loaded.faults == history.faults
    assert loaded.finals == history.finals
    assert loaded.meta == {"seed": 7}


@pytest.mark.parametrize("seed", [1, 2, 3, 42])
def test_the_schedule_is_seeded_bounded_and_covers_every_kind(seed: int) -> None:
    schedule = make_schedule(seed, 60.0)
    assert schedule == make_schedule(seed, 60.0)
    assert {e.kind for e in schedule} == set(CLASSIC_KINDS)
    assert all(1.0 <= e.start < e.end <= 60.0 for e in schedule)
    for event in schedule:
        assert sum(1 for o in schedule if o.start <= event.start < o.end) <= 2  # at most two at once
        overlapping = [o for o in schedule if o is not event and o.start < event.end and event.start < o.end]
        assert all(o.target != event.target for o in overlapping)
    assert make_schedule(seed + 1, 60.0) != schedule
