"""Follower: Hello, Welcome, contiguous appends, acks only after sync."""

from __future__ import annotations

import pytest

from replog.core.follower import Follower
from replog.core.messages import Ack, Append, Error, Heartbeat, Hello, Welcome
from replog.core.outputs import MASTER, Disconnect, Output, Persist, Send, SetLogId, Truncate
from replog.types import Entry


def batch(prev: int, last: int) -> Append:
    return Append(prev, tuple(Entry(i, f"e{i}".encode()) for i in range(prev + 1, last + 1)))


def welcomed(synced: int = 0, log_id: str = "log-A") -> Follower:
    follower = Follower(3, log_id=log_id, synced_index=synced)
    follower.on_connected()
    follower.on_message(Welcome("log-A", 10, match_index=synced))
    follower.take_outputs()
    return follower


def errors(outputs: list[Output]) -> list[Error]:
    return [o.message for o in outputs if isinstance(o, Send) and isinstance(o.message, Error)]


def is_closed(outputs: list[Output]) -> bool:
    return any(isinstance(o, Disconnect) for o in outputs)


def test_hello_reports_the_synced_index() -> None:
    follower = Follower(3, log_id="log-A", synced_index=7)
    follower.on_connected()
    assert follower.take_outputs() == [Send(MASTER, Hello(3, "log-A", 7))]


def test_welcome_adopts_the_log_id_once() -> None:
    follower = Follower(0, log_id="", synced_index=0)
    follower.on_connected()
    follower.take_outputs()
    follower.on_message(Welcome("log-A", 0))
    assert follower.take_outputs() == [SetLogId("log-A")]
    assert follower.log_id == "log-A"
    follower.on_disconnected()
    follower.on_connected()
    assert follower.take_outputs() == [Send(MASTER, Hello(0, "log-A", 0))]
    follower.on_message(Welcome("log-A", 0))
    assert follower.take_outputs() == []


def test_welcome_from_another_log_is_a_protocol_error() -> None:
    follower = Follower(0, log_id="log-A", synced_index=0)
    follower.on_connected()
    follower.take_outputs()
    follower.on_message(Welcome("log-B", 0))
    outs = follower.take_outputs()
    assert [e.code for e in errors(outs)] == ["protocol"]
    assert "log-B" in errors(outs)[0].detail
    assert is_closed(outs)
    assert not any(isinstance(o, SetLogId) for o in outs)
    assert follower.log_id == "log-A"


def test_append_before_welcome_is_a_protocol_error() -> None:
    follower = Follower(0, log_id="log-A", synced_index=0)
    follower.on_connected()
    follower.take_outputs()
    follower.on_message(batch(0, 1))
    outs = follower.take_outputs()
    assert [e.code for e in errors(outs)] == ["protocol"]
    assert follower.appended_index == 0


def test_contiguous_append_is_persisted_and_acked_only_after_sync() -> None:
    follower = welcomed()
    follower.on_message(batch(0, 3))
    assert follower.take_outputs() == [Persist(batch(0, 3).entries)]
    assert (follower.appended_index, follower.synced_index) == (3, 0)
    follower.on_synced(2)
    assert follower.take_outputs() == [Send(MASTER, Ack(2))]
    follower.on_synced(3)
    assert follower.take_outputs() == [Send(MASTER, Ack(3))]
    follower.on_synced(3)
    assert follower.take_outputs() == []


def test_an_overlapping_append_stores_only_the_new_entries() -> None:
    follower = welcomed(synced=3)
    follower.on_message(batch(1, 5))
    assert follower.take_outputs() == [Persist(batch(3, 5).entries)]
    follower.on_synced(5)
    assert follower.take_outputs() == [Send(MASTER, Ack(5))]


def test_a_pure_duplicate_is_acked_at_once() -> None:
    follower = welcomed(synced=4)
    follower.on_message(batch(1, 3))
    assert follower.take_outputs() == [Send(MASTER, Ack(4))]
    assert follower.appended_index == 4


def test_a_gap_closes_the_link() -> None:
    follower = welcomed(synced=2)
    follower.on_message(batch(3, 4))
    outs = follower.take_outputs()
    assert [e.code for e in errors(outs)] == ["protocol"]
    assert "gap" in errors(outs)[0].detail
    assert is_closed(outs)
    assert not any(isinstance(o, Persist) for o in outs)
    assert follower.appended_index == 2


def test_heartbeat_is_answered_with_the_synced_index() -> None:
    follower = welcomed(synced=2)
    follower.on_message(batch(2, 4))
    follower.take_outputs()
    follower.on_message(Heartbeat(9))
    assert follower.take_outputs() == [Send(MASTER, Ack(2))]


def test_no_ack_while_disconnected() -> None:
    follower = welcomed()
    follower.on_message(batch(0, 1))
    follower.take_outputs()
    follower.on_disconnected()
    follower.on_synced(1)
    follower.on_message(Heartbeat(1))
    assert follower.take_outputs() == []


def test_a_refusal_is_stored_and_cleared_by_the_next_welcome() -> None:
    follower = Follower(0, log_id="log-B", synced_index=0)
    follower.on_connected()
    follower.take_outputs()
    follower.on_message(Error("refused", "secondary holds log log-B"))
    outs = follower.take_outputs()
    assert follower.refusal == "secondary holds log log-B"
    assert outs == [Disconnect(MASTER, "master reported refused: secondary holds log log-B")]
    follower.on_disconnected()
    follower.on_connected()
    follower.on_message(Welcome("log-B", 0))
    assert follower.refusal == ""


def test_a_protocol_error_from_the_master_is_not_a_refusal() -> None:
    follower = welcomed()
    follower.on_message(Error("protocol", "x"))
    assert is_closed(follower.take_outputs())
    assert follower.refusal == ""


def test_unexpected_frames_are_protocol_errors() -> None:
    follower = welcomed()
    follower.on_message(Ack(1))
    assert "unexpected Ack" in errors(follower.take_outputs())[0].detail


def test_persist_failed_forgets_the_unstored_tail_and_closes_the_link() -> None:
    follower = welcomed()
    follower.on_message(batch(0, 4))
    follower.take_outputs()
    follower.on_synced(1)
    follower.take_outputs()
    follower.persist_failed(2)
    outs = follower.take_outputs()
    assert follower.appended_index == 2
    assert is_closed(outs)
    follower.on_disconnected()
    follower.on_synced(2)
    follower.on_connected()
    assert follower.take_outputs() == [Send(MASTER, Hello(3, "log-A", 2))]


def test_persist_failed_outside_synced_to_appended_is_a_broken_invariant() -> None:
    follower = welcomed(synced=2)
    with pytest.raises(AssertionError, match=r"outside 2\.\.2"):
        follower.persist_failed(1)


def test_entries_reach_the_store_with_their_terms() -> None:
    follower = welcomed()
    entries = (Entry(1, b"a", None, 2), Entry(2, b"b", "r", 2), Entry(3, b"c", None, 4))
    follower.on_message(Append(0, entries))
    assert follower.take_outputs() == [Persist(entries)]


def test_a_batch_whose_terms_go_below_the_log_s_closes_the_link() -> None:
    follower = welcomed()
    follower.on_message(Append(0, (Entry(1, b"a", None, 3), Entry(2, b"b", None, 5))))
    assert [type(o) for o in follower.take_outputs()] == [Persist]
    follower.on_message(Append(2, (Entry(3, b"c", None, 4),)))
    outputs = follower.take_outputs()
    assert [e.code for e in errors(outputs)] == ["protocol"]
    assert "entry 3 has term 4, below our term 5" in errors(outputs)[0].detail
    assert is_closed(outputs) and not any(isinstance(o, Persist) for o in outputs)
    assert follower.appended_index == 2


def test_a_recovered_log_s_last_term_bounds_the_first_batch() -> None:
    follower = Follower(3, log_id="log-A", synced_index=4, last_term=6)
    follower.on_connected()
    follower.on_message(Welcome("log-A", 10, match_index=4))
    follower.take_outputs()
    follower.on_message(Append(4, (Entry(5, b"e", None, 5),)))
    assert is_closed(follower.take_outputs())
    follower.on_connected()
    follower.on_message(Welcome("log-A", 10, match_index=4))
    follower.take_outputs()
    follower.on_message(Append(4, (Entry(5, b"e", None, 6),)))
    assert follower.take_outputs() == [Persist((Entry(5, b"e", None, 6),))]


def test_a_welcome_below_our_log_truncates_the_tail_before_anything_else() -> None:
    follower = Follower(3, log_id="log-A", synced_index=9, last_term=2)
    follower.on_connected(term=3, epochs=((1, 1), (2, 6)))
    assert follower.take_outputs() == [Send(MASTER, Hello(3, "log-A", 9, term=3, epochs=((1, 1), (2, 6))))]
    follower.on_message(Welcome("log-A", 12, term=4, leader_id=1, match_index=5, commit_index=5))
    assert follower.take_outputs() == [Truncate(5)]
    assert (follower.synced_index, follower.appended_index, follower.commit_index) == (5, 5, 5)
    follower.on_message(Append(5, (Entry(6, b"new", None, 4),), term=4, commit_index=6))
    assert follower.take_outputs() == [Persist((Entry(6, b"new", None, 4),))]


def test_a_welcome_beyond_our_log_is_a_protocol_error() -> None:
    follower = Follower(3, log_id="log-A", synced_index=2)
    follower.on_connected()
    follower.take_outputs()
    follower.on_message(Welcome("log-A", 12, match_index=4))
    outputs = follower.take_outputs()
    assert is_closed(outputs) and "matches up to 4 but we hold 1..2" in errors(outputs)[0].detail


def test_committed_reads_follow_the_leader_but_never_pass_what_is_synced() -> None:
    follower = welcomed(synced=0)
    follower.on_message(Append(0, (Entry(1, b"a"), Entry(2, b"b")), commit_index=2))
    assert follower.commit_index == 0  # Nothing synced yet.
    follower.on_synced(2)
    assert follower.commit_index == 2
    follower.on_message(Heartbeat(2, commit_index=1))
    assert follower.commit_index == 2  # A committed read never goes back.
