"""Leader: write concerns, read-only, limits and request_id dedup."""

from __future__ import annotations

import pytest

from replog.core.outputs import HealthChanged, Persist, ReadOnlyChanged, Reject
from replog.errors import InvalidRequest, InvalidWriteConcern, NotEnoughReplicas, Overloaded, ReadOnly
from replog.types import Entry, HealthState

from .leader_harness import UNHEALTHY_MS, Harness, releases


def connected(**limits: object) -> Harness:
    h = Harness(**limits)  # type: ignore[arg-type]
    h.connect(0)
    h.connect(1)
    return h


def test_w1_waits_for_the_masters_sync() -> None:
    h = connected()
    proposal, outs = h.propose(b"a", w=1)
    assert (proposal.first_index, proposal.last_index, proposal.duplicate) == (1, 1, False)
    assert outs == [Persist((Entry(1, b"a"),))]
    assert releases(outs) == []
    assert releases(h.sync()) == [(proposal.token, 1)]


def test_w2_is_released_by_one_ack() -> None:
    h = connected()
    proposal, _ = h.propose(b"a", w=2)
    assert releases(h.sync()) == []
    assert releases(h.ack(0, 1)) == [(proposal.token, 1)]


def test_w3_waits_for_both_secondaries_while_w1_is_released() -> None:
    h = connected()
    p3, _ = h.propose(b"a", w=3)
    p1, _ = h.propose(b"b", w=1)
    assert releases(h.sync()) == [(p1.token, 2)]
    assert releases(h.ack(0, 2)) == []
    assert h.leader.waiting() == 1
    assert releases(h.ack(1, 1)) == [(p3.token, 1)]
    assert h.leader.waiting() == 0


def test_an_ack_alone_does_not_release_w1_without_the_master_sync() -> None:
    h = connected()
    p1, _ = h.propose(b"a", w=1)
    h.leader.on_synced(0)
    assert releases(h.take()) == []
    assert releases(h.sync()) == [(p1.token, 1)]


@pytest.mark.parametrize("w", [0, -1, 4, 100])
def test_invalid_write_concern_names_the_range(w: int) -> None:
    h = connected()
    with pytest.raises(InvalidWriteConcern, match=rf"1\.\.3, got {w}"):
        h.leader.propose([b"a"], w)
    assert h.leader.last_index == 0


def test_an_empty_proposal_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        connected().leader.propose([], 1)


def test_read_only_when_both_secondaries_are_unhealthy_and_back_after_reconnect() -> None:
    h = connected()
    assert not h.leader.read_only
    outs = h.tick(UNHEALTHY_MS)
    assert ReadOnlyChanged(read_only=True, alive=1, needed=2) in outs
    assert h.leader.read_only
    with pytest.raises(ReadOnly) as excinfo:
        h.leader.propose([b"a"], 1)
    assert str(excinfo.value) == "read-only: no quorum (1 of 3 nodes alive, 2 needed)"
    assert h.leader.last_index == 0

    h.now = UNHEALTHY_MS + 10
    h.leader.on_disconnected(0, h.now)
    outs = h.connect(0)
    assert ReadOnlyChanged(read_only=False, alive=2, needed=2) in outs
    proposal, outs = h.propose(b"a", w=1)
    assert proposal.first_index == 1


def test_a_fresh_leader_with_no_secondary_connected_is_read_only() -> None:
    h = Harness()
    assert h.leader.read_only
    with pytest.raises(ReadOnly):
        h.leader.propose([b"a"], 1)


def test_a_leader_without_secondaries_is_never_read_only() -> None:
    h = Harness(peers=())
    assert not h.leader.read_only
    proposal, _ = h.propose(b"a", w=1)
    assert releases(h.sync()) == [(proposal.token, 1)]


def test_health_and_read_only_outputs_fire_on_transitions_only() -> None:
    h = Harness()
    outs = h.connect(0)
    assert HealthChanged(0, HealthState.UNHEALTHY, HealthState.HEALTHY) in outs
    assert ReadOnlyChanged(read_only=False, alive=2, needed=2) in outs
    assert [o for o in h.tick(299) if isinstance(o, HealthChanged | ReadOnlyChanged)] == []
    outs = [o for o in h.tick(300) if isinstance(o, HealthChanged | ReadOnlyChanged)]
    assert outs == [HealthChanged(0, HealthState.HEALTHY, HealthState.SUSPECTED)]  # Suspected keeps quorum.
    outs = [o for o in h.tick(600) if isinstance(o, HealthChanged | ReadOnlyChanged)]
    assert outs == [
        HealthChanged(0, HealthState.SUSPECTED, HealthState.UNHEALTHY),
        ReadOnlyChanged(read_only=True, alive=1, needed=2),
    ]
    assert [o for o in h.tick(700) if isinstance(o, HealthChanged | ReadOnlyChanged)] == []


def test_an_inbound_frame_refreshes_health() -> None:
    h = connected()
    h.now = 550
    h.ack(0, 0)
    h.tick(UNHEALTHY_MS)
    states = {s.peer: s.health for s in h.leader.peer_status()}
    assert states == {0: HealthState.HEALTHY, 1: HealthState.UNHEALTHY}
    assert not h.leader.read_only


def test_suspend_on_slaves_dead_refuses_a_w_the_live_secondaries_cannot_meet() -> None:
    h = Harness(suspend_on_slaves_dead=True)
    h.connect(0)
    with pytest.raises(NotEnoughReplicas, match="w=3 needs 2 secondaries but only 1"):
        h.leader.propose([b"a"], 3)
    assert h.leader.last_index == 0
    h.propose(b"a", w=2)
    assert h.leader.last_index == 1


def test_without_suspend_on_slaves_dead_a_write_waits_instead() -> None:
    h = Harness()
    h.connect(0)
    proposal, _ = h.propose(b"a", w=3)
    assert proposal.last_index == 1
    assert h.leader.waiting() == 1


def test_waiters_max_raises_overloaded_until_a_waiter_is_released() -> None:
    h = connected(waiters_max=2)
    h.propose(b"a", w=1)
    h.propose(b"b", w=1)
    with pytest.raises(Overloaded, match="waiters_max"):
        h.leader.propose([b"c"], 1)
    assert h.leader.last_index == 2
    h.sync()
    proposal, _ = h.propose(b"c", w=1)
    assert proposal.last_index == 3


def test_a_duplicate_request_id_appends_nothing_and_waits_on_its_own_w() -> None:
    h = connected()
    original, outs = h.propose(b"a", w=1, request_id="r1")
    assert [type(o) for o in outs] == [Persist]
    assert outs[0].entries == (Entry(1, b"a", "r1"),)
    retry, outs = h.propose(b"ignored", w=2, request_id="r1")
    assert (retry.first_index, retry.last_index, retry.duplicate) == (1, 1, True)
    assert retry.token != original.token
    assert outs == []
    assert h.leader.last_index == 1
    assert releases(h.sync()) == [(original.token, 1)]
    assert releases(h.ack(0, 1)) == [(retry.token, 1)]


def test_a_duplicate_of_a_satisfied_write_is_released_at_once() -> None:
    h = connected()
    h.propose(b"a", w=1, request_id="r1")
    h.sync()
    retry, outs = h.propose(b"a", w=1, request_id="r1")
    assert retry.duplicate
    assert releases(outs) == [(retry.token, 1)]


def test_the_request_id_window_is_bounded() -> None:
    h = connected(request_id_window=2)
    for rid in ("r1", "r2", "r3"):
        h.propose(rid.encode(), w=1, request_id=rid)
    assert h.leader.propose([b"x"], 1, "r3").duplicate
    again = h.leader.propose([b"x"], 1, "r1")
    assert not again.duplicate
    assert again.first_index == 4


def test_recent_request_ids_prefill_dedup() -> None:
    h = Harness(peers=(), last_index=3, recent_request_ids=[("r", 2, 3)])
    proposal, outs = h.propose(b"x", w=1, request_id="r")
    assert (proposal.first_index, proposal.last_index, proposal.duplicate) == (2, 3, True)
    assert releases(outs) == [(proposal.token, 3)]
    assert h.leader.last_index == 3


def test_a_batch_gets_consecutive_indexes_and_is_released_on_its_last() -> None:
    h = connected()
    first, _ = h.propose(b"first", w=1)
    proposal, outs = h.propose(b"a", b"b", b"c", w=1, request_id="batch")
    assert (proposal.first_index, proposal.last_index) == (2, 4)
    assert outs == [Persist((Entry(2, b"a", "batch"), Entry(3, b"b", "batch"), Entry(4, b"c", "batch")))]
    assert releases(h.sync(3)) == [(first.token, 1)]  # 2..3 synced, but the batch waits for 4.
    assert h.leader.waiting() == 1
    assert releases(h.sync(4)) == [(proposal.token, 4)]
    retry = h.leader.propose([b"z"], 1, "batch")
    assert (retry.first_index, retry.last_index, retry.duplicate) == (2, 4, True)


def test_abort_unwritten_fails_the_unwritten_proposals_and_frees_their_indexes() -> None:
    h = connected()
    h.propose(b"a", w=1, request_id="r1")
    h.sync()
    tail, _ = h.propose(b"b", b"c", w=2, request_id="r2")
    later, _ = h.propose(b"d", w=3)
    assert h.leader.waiting() == 2
    h.leader.abort_unwritten(1, "disk full")
    assert sorted(h.leader.take_outputs(), key=lambda o: o.token) == [  # type: ignore[union-attr]
        Reject(tail.token, "disk full"),
        Reject(later.token, "disk full"),
    ]
    assert h.leader.last_index == 1
    assert h.leader.waiting() == 0
    again = h.leader.propose([b"d"], 1, "r2")
    assert (again.first_index, again.duplicate) == (2, False)
    assert h.leader.propose([b"e"], 1, "r1").duplicate


def test_abort_unwritten_refuses_to_forget_synced_entries() -> None:
    h = connected()
    h.propose(b"a", w=1)
    h.propose(b"b", w=1)
    h.sync()
    with pytest.raises(AssertionError, match="outside written"):
        h.leader.abort_unwritten(1, "disk full")


def test_on_synced_beyond_the_last_index_is_a_broken_invariant() -> None:
    h = connected()
    with pytest.raises(AssertionError, match="beyond last index"):
        h.leader.on_synced(1)
