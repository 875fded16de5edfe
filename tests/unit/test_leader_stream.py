"""Leader: Hello handling, catch-up, batching, the in-flight window and heartbeats."""

from __future__ import annotations

import pytest

from replog.core.messages import PROTOCOL_VERSION, Ack, Error, Heartbeat, Hello, Welcome
from replog.core.outputs import CatchUp, Disconnect, HealthChanged, ReadOnlyChanged, Send
from replog.core.progress import LinkMode
from replog.types import HealthState

from .leader_harness import HEARTBEAT_MS, LOG_ID, Harness, appends, releases, sends


def status(h: Harness, peer: int):  # type: ignore[no-untyped-def]
    return next(s for s in h.leader.peer_status() if s.peer == peer)


def test_hello_is_welcomed_and_starts_the_stream() -> None:
    h = Harness(last_index=2)
    outs = h.connect(0, contiguous=2)
    assert sends(outs, peer=0) == [Welcome(LOG_ID, 2, match_index=2)]
    assert status(h, 0).mode is LinkMode.STREAM
    assert status(h, 0).acked_index == 2


def test_a_fresh_secondary_with_no_log_id_is_accepted() -> None:
    h = Harness()
    outs = h.connect(0, log_id="")
    assert sends(outs, Welcome) == [Welcome(LOG_ID, 0)]
    assert status(h, 0).mode is LinkMode.STREAM


def test_only_synced_entries_are_sent() -> None:
    h = Harness()
    h.connect(0)
    h.connect(1)
    _, outs = h.propose(b"a", w=1)
    assert appends(outs) == []
    assert appends(h.sync()) == [(0, [1]), (0, [1])]


def test_batches_respect_batch_entries_max_and_the_inflight_window() -> None:
    h = Harness(batch_entries_max=2, inflight_frames_max=2)
    h.connect(0)
    h.connect(1)
    h.propose(*(bytes([i]) for i in range(7)), w=1)
    outs = h.sync()
    assert appends(outs, peer=0) == [(0, [1, 2]), (2, [3, 4])]
    assert appends(outs, peer=1) == [(0, [1, 2]), (2, [3, 4])]
    assert appends(h.ack(0, 2), peer=0) == [(4, [5, 6])]
    assert appends(h.ack(0, 3)) == []  # Half a frame acked: the window stays full.
    assert appends(h.ack(0, 6)) == [(6, [7])]  # One cumulative Ack frees two frames.
    assert appends(h.ack(0, 7)) == []


def test_batches_respect_batch_bytes_max() -> None:
    h = Harness(peers=(0,), batch_bytes_max=100)
    h.connect(0)
    h.propose(*(b"x" * 34 for _ in range(3)), w=1)  # 50 bytes each with the entry overhead.
    assert appends(h.sync()) == [(0, [1, 2]), (2, [3])]


def test_hello_with_a_foreign_log_id_is_refused() -> None:
    h = Harness()
    h.leader.on_connected(0, 0)
    connected = h.take()
    outs = h.message(0, Hello(0, "log-B", 0))
    errors = sends(outs, Error, peer=0)
    assert len(errors) == 1 and errors[0].code == "refused"
    assert "log-B" in errors[0].detail and LOG_ID in errors[0].detail
    assert any(isinstance(o, Disconnect) and o.peer == 0 for o in outs)
    assert sends(outs, Welcome) == []
    # Never counted alive: not between the dial and its Hello, nor after the refusal.
    assert [o for o in connected + outs if isinstance(o, HealthChanged | ReadOnlyChanged)] == []
    assert h.leader.read_only
    st = status(h, 0)
    assert (st.mode, st.health) == (LinkMode.REFUSED, HealthState.UNHEALTHY)
    assert "log-B" in st.refusal


def test_a_refused_peer_stays_refused_across_disconnect_and_clears_on_reconnect() -> None:
    h = Harness()
    h.connect(0, log_id="log-B")
    h.leader.on_disconnected(0, 10)
    assert status(h, 0).mode is LinkMode.REFUSED
    h.now = 20
    h.connect(0)
    assert (status(h, 0).mode, status(h, 0).refusal) == (LinkMode.STREAM, "")


def test_a_refused_peer_that_redials_stays_unhealthy_with_its_refusal_until_a_hello_is_accepted() -> None:
    h = Harness()
    h.connect(0, log_id="log-B")
    refusal = status(h, 0).refusal
    for now in (100, 200):  # Each redial of the link, and the same refusal again.
        h.now = now
        h.leader.on_disconnected(0, now)
        h.leader.on_connected(0, now)
        redialled = h.take()
        assert (status(h, 0).health, status(h, 0).refusal) == (HealthState.UNHEALTHY, refusal)
        assert h.leader.alive() == 1 and h.leader.read_only
        outs = h.message(0, Hello(0, "log-B", 0))
        assert [o for o in redialled + outs if isinstance(o, HealthChanged | ReadOnlyChanged)] == []
    h.now = 300
    h.leader.on_disconnected(0, 300)
    outs = h.connect(0)
    assert (status(h, 0).mode, status(h, 0).health, status(h, 0).refusal) == (
        LinkMode.STREAM,
        HealthState.HEALTHY,
        "",
    )
    assert ReadOnlyChanged(read_only=False, alive=2, needed=2) in outs


def test_a_frame_before_any_accepted_hello_does_not_count_as_heard() -> None:
    h = Harness()
    h.leader.on_connected(0, 0)
    h.take()
    outs = h.message(0, Ack(0))  # not a Hello: a protocol error, and the link is dropped
    assert any(isinstance(o, Disconnect) for o in outs)
    assert [o for o in outs if isinstance(o, HealthChanged | ReadOnlyChanged)] == []
    assert status(h, 0).health is HealthState.UNHEALTHY and h.leader.read_only


def test_a_connected_peer_counts_as_heard_only_once_its_hello_arrives() -> None:
    h = Harness()
    h.leader.on_connected(0, 0)
    assert [o for o in h.take() if isinstance(o, HealthChanged)] == []
    assert status(h, 0).health is HealthState.UNHEALTHY and h.leader.read_only
    outs = h.message(0, Hello(0, LOG_ID, 0))
    assert HealthChanged(0, HealthState.UNHEALTHY, HealthState.HEALTHY) in outs
    assert not h.leader.read_only


def test_hello_beyond_the_masters_last_index_is_refused() -> None:
    h = Harness(last_index=3)
    outs = h.connect(0, contiguous=5)
    errors = sends(outs, Error)
    assert [e.code for e in errors] == ["refused"]
    assert "1..5" in errors[0].detail and "1..3" in errors[0].detail
    assert status(h, 0).mode is LinkMode.REFUSED


def test_hello_with_another_protocol_version_is_refused() -> None:
    h = Harness()
    h.leader.on_connected(0, 0)
    outs = h.message(0, Hello(0, LOG_ID, 0, protocol_version=99))
    assert [e.code for e in sends(outs, Error)] == ["refused"]


def test_a_version_1_secondary_is_refused_with_both_versions_named() -> None:
    h = Harness()
    h.leader.on_connected(0, 0)
    outs = h.message(0, Hello(0, LOG_ID, 0, protocol_version=1))
    (error,) = sends(outs, Error)
    assert error.code == "refused"
    assert "the secondary speaks version 1" in error.detail
    assert f"this master speaks version {PROTOCOL_VERSION}" in error.detail
    assert PROTOCOL_VERSION == 3
    assert any(isinstance(out, Disconnect) for out in outs)
    assert sends(outs, Welcome) == []
    assert status(h, 0).mode is LinkMode.REFUSED


def test_hello_beyond_the_masters_synced_index_cannot_release_w1_early() -> None:
    h = Harness(peers=(0, 1))
    h.connect(1)
    proposal, _ = h.propose(b"a", w=1)
    # The master never sent index 1 (it is not synced), so no secondary can legitimately hold it.
    outs = h.connect(0, contiguous=1)
    assert releases(outs) == []
    assert releases(h.sync()) == [(proposal.token, 1)]


def test_catch_up_is_announced_and_finished_after_the_ack() -> None:
    h = Harness(last_index=5)
    outs = h.connect(0, contiguous=2)
    assert CatchUp(0, 3, 5, done=False) in outs
    assert appends(outs) == [(2, [3, 4, 5])]
    assert not [o for o in h.ack(0, 4) if isinstance(o, CatchUp)]
    done = [o for o in h.ack(0, 5) if isinstance(o, CatchUp)]
    assert len(done) == 1
    assert (done[0].peer, done[0].to_index, done[0].done) == (0, 5, True)


def test_a_current_secondary_needs_no_catch_up() -> None:
    h = Harness(last_index=5)
    outs = h.connect(0, contiguous=5)
    assert not [o for o in outs if isinstance(o, CatchUp)]
    assert appends(outs) == []


def test_reconnect_resumes_after_what_the_hello_reports() -> None:
    h = Harness(peers=(0,), batch_entries_max=2)
    h.connect(0)
    h.propose(b"a", b"b", b"c", w=1)
    assert appends(h.sync()) == [(0, [1, 2]), (2, [3])]
    h.leader.on_disconnected(0, 0)
    # The secondary stored 1..2 but the ack was lost: the new stream starts at 3, nothing is resent.
    outs = h.connect(0, contiguous=2)
    assert appends(outs) == [(2, [3])]


def test_an_ack_beyond_what_was_sent_is_a_protocol_error() -> None:
    h = Harness()
    h.connect(0)
    outs = h.ack(0, 1)
    errors = sends(outs, Error, peer=0)
    assert [e.code for e in errors] == ["protocol"]
    assert "beyond what was sent" in errors[0].detail
    assert any(isinstance(o, Disconnect) and o.peer == 0 for o in outs)


@pytest.mark.parametrize(
    ("message", "words"),
    [(Ack(0), "Ack before Hello"), (Heartbeat(0), "unexpected Heartbeat"), (Welcome("x", 0), "unexpected Welcome")],
)
def test_frames_out_of_place_are_protocol_errors(message: object, words: str) -> None:
    h = Harness()
    h.leader.on_connected(0, 0)
    outs = h.message(0, message)  # type: ignore[arg-type]
    assert [e.code for e in sends(outs, Error)] == ["protocol"]
    assert words in sends(outs, Error)[0].detail


def test_a_second_hello_mid_stream_is_a_protocol_error() -> None:
    h = Harness()
    h.connect(0)
    outs = h.message(0, Hello(0, LOG_ID, 0))
    assert "Hello in the middle of a stream" in sends(outs, Error)[0].detail


def test_an_error_from_the_secondary_closes_its_link() -> None:
    h = Harness()
    h.connect(0)
    outs = h.message(0, Error("protocol", "boom"))
    assert [o for o in outs if isinstance(o, Disconnect)] == [Disconnect(0, "secondary reported protocol: boom")]


def test_frames_after_a_disconnect_are_ignored() -> None:
    h = Harness()
    h.connect(0)
    h.leader.on_disconnected(0, 0)
    assert [o for o in h.ack(0, 99) if isinstance(o, Send | Disconnect)] == []


def test_heartbeats_only_on_idle_stream_links() -> None:
    h = Harness(peers=(0, 1, 2))
    h.connect(0)  # STREAM
    h.leader.on_connected(1, 0)  # AWAIT_HELLO: sends nothing
    # Peer 2 is down.
    h.take()
    assert sends(h.tick(HEARTBEAT_MS - 1)) == []
    assert [(o.peer, o.message) for o in h.tick(HEARTBEAT_MS) if isinstance(o, Send)] == [(0, Heartbeat(0))]
    assert sends(h.tick(HEARTBEAT_MS + 50)) == []
    assert sends(h.tick(2 * HEARTBEAT_MS), Heartbeat) == [Heartbeat(0)]


def test_a_link_that_just_sent_an_append_is_not_idle() -> None:
    h = Harness(peers=(0,))
    h.connect(0)
    h.propose(b"a", w=1)
    h.tick(50)  # on_synced carries no clock: the Leader stamps sends with the last now_ms it saw.
    assert appends(h.sync()) == [(0, [1])]
    assert sends(h.tick(HEARTBEAT_MS), Heartbeat) == []
    assert sends(h.tick(50 + HEARTBEAT_MS), Heartbeat) == [Heartbeat(1)]


def test_catch_up_builds_at_most_pump_frames_max_frames_per_input() -> None:
    """A long backlog is streamed a few frames per event, so one input never stalls the event loop."""
    h = Harness(peers=(0,), last_index=100, batch_entries_max=10, inflight_frames_max=8, pump_frames_max=2)
    first = h.connect(0, contiguous=0)
    assert appends(first) == [(0, list(range(1, 11))), (10, list(range(11, 21)))]
    after_ack = h.ack(0, 10)
    assert appends(after_ack) == [(20, list(range(21, 31))), (30, list(range(31, 41)))]
    after_tick = h.tick(10)  # A tick refills the window too, so a quiet link never stalls.
    assert appends(after_tick) == [(40, list(range(41, 51))), (50, list(range(51, 61)))]
