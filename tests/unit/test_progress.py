"""Per-secondary progress: modes, the in-flight window and cumulative acks."""

from __future__ import annotations

from replog.core.progress import LinkMode, Progress
from replog.types import HealthState


def test_a_new_progress_is_down_and_unhealthy() -> None:
    progress = Progress(peer=0)
    assert progress.mode is LinkMode.DOWN
    assert not progress.connected
    assert progress.health is HealthState.UNHEALTHY
    assert (progress.acked_index, progress.next_index) == (0, 1)


def test_start_stream_resumes_right_after_what_the_secondary_holds() -> None:
    progress = Progress(peer=0, mode=LinkMode.AWAIT_HELLO)
    progress.inflight.extend([3, 4])
    progress.start_stream(7)
    assert progress.mode is LinkMode.STREAM
    assert progress.connected
    assert (progress.acked_index, progress.next_index) == (7, 8)
    assert list(progress.inflight) == []


def test_sent_advances_next_index_and_fills_the_window() -> None:
    progress = Progress(peer=0)
    progress.start_stream(0)
    assert progress.window_open(2)
    progress.sent(3, now_ms=10)
    assert progress.window_open(2)
    progress.sent(5, now_ms=20)
    assert not progress.window_open(2)
    assert progress.next_index == 6
    assert progress.last_sent_ms == 20
    assert list(progress.inflight) == [3, 5]


def test_a_cumulative_ack_frees_exactly_the_frames_that_end_at_or_before_it() -> None:
    progress = Progress(peer=0)
    progress.start_stream(0)
    for last in (2, 4, 6):
        progress.sent(last, now_ms=0)
    progress.acked(3)  # Frame 1..2 is done; frame 3..4 is only half acked.
    assert list(progress.inflight) == [4, 6]
    assert progress.acked_index == 3
    progress.acked(6)
    assert list(progress.inflight) == []
    assert progress.window_open(1)


def test_acked_never_moves_backwards() -> None:
    progress = Progress(peer=0)
    progress.start_stream(5)
    progress.acked(2)
    assert progress.acked_index == 5


def test_link_lost_keeps_what_is_durable_there_but_forgets_the_window() -> None:
    progress = Progress(peer=0, last_heard_ms=100)
    progress.start_stream(0)
    progress.sent(4, now_ms=0)
    progress.acked(2)
    progress.link_lost()
    assert progress.mode is LinkMode.DOWN
    assert not progress.connected
    assert progress.acked_index == 2
    assert list(progress.inflight) == []
    assert progress.last_heard_ms is None


def test_refuse_records_why_and_stops_counting_the_peer() -> None:
    progress = Progress(peer=1)
    progress.start_stream(9)
    progress.sent(12, now_ms=0)
    progress.refuse("foreign log")
    assert progress.mode is LinkMode.REFUSED
    assert not progress.connected
    assert progress.refusal == "foreign log"
    assert progress.acked_index == 0
    assert list(progress.inflight) == []
