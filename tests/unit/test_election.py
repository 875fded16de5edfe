"""Election: one rule per test, read as transcripts of outputs (DESIGN §9)."""

from __future__ import annotations

import random

import pytest

from replog.core.election import Election, ElectionConfig, HardState, LogPosition, Role
from replog.core.outputs import (
    BecameCandidate,
    BecameFollower,
    BecameLeader,
    BecamePreCandidate,
    PersistHardState,
    SendVote,
)
from replog.core.vote_messages import TimeoutNow, VoteRequest, VoteResponse
from replog.errors import ProtocolError

T_MS = 100
LOG = LogPosition(last_term=1, last_index=10)


def make(
    node_id: int = 1,
    *,
    nodes_total: int = 3,
    preferred_id: int = 0,
    hard_state: HardState | None = None,
    log: LogPosition = LOG,
    now_ms: int = 0,
    seed: int = 0,
) -> Election:
    config = ElectionConfig(node_id, nodes_total, preferred_id, T_MS)
    return Election(
        config,
        hard_state=hard_state or HardState(),
        log_position=lambda: log,
        rng=random.Random(seed),
        now_ms=now_ms,
    )


def ask(term: int, candidate: int = 0, log: LogPosition = LOG, **flags: bool) -> VoteRequest:
    return VoteRequest(term, candidate, log.last_term, log.last_index, **flags)


def elected(node_id: int = 0, *, nodes_total: int = 3, now_ms: int = 0) -> Election:
    """A leader of term 1, elected at `now_ms` with every peer's yes."""
    election = make(node_id, nodes_total=nodes_total, preferred_id=node_id, now_ms=now_ms)
    election.tick(now_ms)
    peers = [p for p in range(nodes_total) if p != node_id]
    for peer in peers:
        if election.role is Role.PRE_CANDIDATE:
            election.on_message(VoteResponse(election.term + 1, peer, True, pre_vote=True), now_ms)
    for peer in peers:
        if election.role is Role.CANDIDATE:
            election.on_message(VoteResponse(election.term, peer, True), now_ms)
    assert election.role is Role.LEADER
    election.take_outputs()
    return election


def follower_of(leader_id: int = 0, *, node_id: int = 1, term: int = 1, now_ms: int = 0) -> Election:
    election = make(node_id, hard_state=HardState(term, leader_id))
    assert election.on_leader_contact(term, leader_id, now_ms)
    election.take_outputs()
    return election


def granted(outputs: list[object]) -> list[bool]:
    return [o.message.granted for o in outputs if isinstance(o, SendVote) and isinstance(o.message, VoteResponse)]


# ------------------------------------------------------------------ configuration and start


@pytest.mark.parametrize(
    ("node_id", "nodes_total", "preferred_id", "timeout_ms"),
    [(0, 0, 0, 100), (3, 3, 0, 100), (0, 3, 3, 100), (0, 3, 0, 0)],
)
def test_config_is_validated(node_id: int, nodes_total: int, preferred_id: int, timeout_ms: int) -> None:
    with pytest.raises(ValueError):
        ElectionConfig(node_id, nodes_total, preferred_id, timeout_ms)


def test_majority_is_half_plus_one() -> None:
    assert [ElectionConfig(0, n, 0, T_MS).majority for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]


def test_the_preferred_node_asks_for_pre_votes_at_once() -> None:
    election = make(0, preferred_id=0, now_ms=500)
    election.tick(500)
    assert election.take_outputs() == [
        BecamePreCandidate(0),
        SendVote(1, ask(1, pre_vote=True)),
        SendVote(2, ask(1, pre_vote=True)),
    ]
    assert (election.term, election.voted_for, election.role) == (0, None, Role.PRE_CANDIDATE)


def test_other_nodes_wait_a_random_timeout_in_t_to_2t() -> None:
    first_campaign_ms = set()
    for seed in range(40):
        election = make(1, seed=seed)
        now_ms = 0
        while not election.take_outputs():
            now_ms += 1
            election.tick(now_ms)
        first_campaign_ms.add(now_ms)
    assert min(first_campaign_ms) >= T_MS and max(first_campaign_ms) <= 2 * T_MS
    assert len(first_campaign_ms) > 10, "timeouts must be spread, or split votes repeat"


def test_the_preferred_node_retries_within_t_2_to_t_so_it_beats_the_others() -> None:
    """Its first pre-vote went out before anyone listened (lost): its retry comes before their first try."""
    retries_ms = set()
    for seed in range(40):
        election = make(0, preferred_id=0, seed=seed)
        election.tick(0)
        election.take_outputs()  # The first pre-vote, lost.
        now_ms = 0
        while not election.take_outputs():
            now_ms += 1
            election.tick(now_ms)
        retries_ms.add(now_ms)
    assert min(retries_ms) >= T_MS // 2 and max(retries_ms) <= T_MS
    assert len(retries_ms) > 10


def test_a_restart_restores_the_hard_state_and_says_nothing() -> None:
    election = make(hard_state=HardState(5, 2))
    assert (election.term, election.voted_for, election.role, election.leader_id) == (5, 2, Role.FOLLOWER, None)
    assert election.take_outputs() == []


# -------------------------------------------------------------------------------- campaigns


def test_a_pre_vote_majority_persists_the_new_term_before_asking_for_votes() -> None:
    election = make(0, preferred_id=0)
    election.tick(0)
    election.take_outputs()
    election.on_message(VoteResponse(1, 1, True, pre_vote=True), 5)
    assert election.take_outputs() == [
        PersistHardState(1, 0),
        BecameCandidate(1),
        SendVote(1, ask(1)),
        SendVote(2, ask(1)),
    ]
    election.on_message(VoteResponse(1, 2, True), 7)
    assert election.take_outputs() == [BecameLeader(1)]
    assert (election.role, election.leader_id) == (Role.LEADER, 0)


def test_a_pre_candidate_does_not_bump_its_term_on_grants_below_a_majority() -> None:
    election = make(0, nodes_total=5, preferred_id=0, hard_state=HardState(2, None))
    election.tick(0)
    election.take_outputs()
    election.on_message(VoteResponse(3, 1, True, pre_vote=True), 1)
    assert election.take_outputs() == []
    assert (election.term, election.role) == (2, Role.PRE_CANDIDATE)


def test_rejected_pre_votes_end_the_round_without_a_term_change() -> None:
    election = make(0, preferred_id=0, hard_state=HardState(2, None))
    election.tick(0)
    election.take_outputs()
    election.on_message(VoteResponse(2, 1, False, pre_vote=True), 1)
    election.on_message(VoteResponse(2, 2, False, pre_vote=True), 2)
    assert election.take_outputs() == [BecameFollower(2, None)]
    assert election.term == 2


def test_a_rejection_with_a_higher_term_makes_a_pre_candidate_follow_that_term() -> None:
    election = make(0, preferred_id=0, hard_state=HardState(2, None))
    election.tick(0)
    election.take_outputs()
    election.on_message(VoteResponse(7, 1, False, pre_vote=True), 1)
    assert election.take_outputs() == [PersistHardState(7, None), BecameFollower(7, None)]


def test_a_candidate_that_loses_waits_then_starts_again_with_a_pre_vote() -> None:
    election = make(0, preferred_id=0)
    election.tick(0)
    election.on_message(VoteResponse(1, 1, True, pre_vote=True), 1)
    election.take_outputs()
    election.on_message(VoteResponse(1, 1, False), 2)
    election.on_message(VoteResponse(1, 2, False), 3)
    assert election.take_outputs() == [BecameFollower(1, None)]
    election.tick(3 + 2 * T_MS)
    assert election.take_outputs()[:2] == [BecamePreCandidate(1), SendVote(1, ask(2, pre_vote=True))]


def test_a_candidate_that_times_out_runs_a_pre_vote_again() -> None:
    election = make(0, preferred_id=0)
    election.tick(0)
    election.on_message(VoteResponse(1, 1, True, pre_vote=True), 1)
    election.take_outputs()
    election.tick(1 + 2 * T_MS)
    assert election.take_outputs()[0] == BecamePreCandidate(1)
    assert (election.term, election.voted_for) == (1, 0)


def test_a_single_node_cluster_leads_at_once() -> None:
    election = make(0, nodes_total=1)
    election.tick(0)
    assert election.take_outputs() == [PersistHardState(1, 0), BecameLeader(1)]


# ----------------------------------------------------------------------------------- voting


def test_a_vote_is_persisted_before_it_is_sent() -> None:
    election = make(1, hard_state=HardState(2, None))
    election.on_message(ask(3), 0)
    assert election.take_outputs() == [
        PersistHardState(3, 0),
        BecameFollower(3, None),
        SendVote(0, VoteResponse(3, 1, True)),
    ]


def test_a_pre_vote_is_granted_without_changing_the_term() -> None:
    election = make(1, hard_state=HardState(3, None))
    election.on_message(ask(4, pre_vote=True), 0)
    assert election.take_outputs() == [SendVote(0, VoteResponse(4, 1, True, pre_vote=True))]
    assert (election.term, election.voted_for) == (3, None)


@pytest.mark.parametrize("pre_vote", [False, True])
@pytest.mark.parametrize(
    ("candidate_log", "grant"),
    [
        (LogPosition(1, 50), False),  # Older last term loses, however long.
        (LogPosition(2, 9), False),  # Same last term, shorter.
        (LogPosition(2, 10), True),  # Equal is up to date.
        (LogPosition(2, 11), True),
        (LogPosition(3, 1), True),  # Newer last term wins, however short.
    ],
)
def test_votes_go_only_to_logs_at_least_as_up_to_date(candidate_log: LogPosition, grant: bool, pre_vote: bool) -> None:
    election = make(1, log=LogPosition(2, 10))
    election.on_message(ask(1, log=candidate_log, pre_vote=pre_vote), 0)
    assert granted(election.take_outputs()) == [grant]


def test_one_vote_per_term_even_after_a_restart() -> None:
    election = make(1)
    election.on_message(ask(3, candidate=0), 0)
    assert granted(election.take_outputs()) == [True]
    election.on_message(ask(3, candidate=2), 1)
    assert election.take_outputs() == [SendVote(2, VoteResponse(3, 1, False))]
    election.on_message(ask(3, candidate=0), 2)  # The answer was lost and the candidate asks again.
    assert election.take_outputs() == [SendVote(0, VoteResponse(3, 1, True))]

    restarted = make(1, hard_state=election.hard_state)
    restarted.on_message(ask(3, candidate=2), 3)
    assert granted(restarted.take_outputs()) == [False]
    restarted.on_message(ask(4, candidate=2), 4)
    assert granted(restarted.take_outputs()) == [True]


def test_a_stale_real_vote_request_is_ignored_and_a_stale_pre_vote_learns_our_term() -> None:
    election = make(1, hard_state=HardState(5, None))
    election.on_message(ask(4, candidate=0), 0)
    assert election.take_outputs() == []
    election.on_message(ask(4, candidate=0, pre_vote=True), 0)
    assert election.take_outputs() == [SendVote(0, VoteResponse(5, 1, False, pre_vote=True))]


def test_no_vote_in_a_term_whose_leader_is_known() -> None:
    election = follower_of(0, term=3)
    election.on_message(ask(3, candidate=2), 5 * T_MS)  # Same term, long after the lease.
    assert granted(election.take_outputs()) == [False]


# -------------------------------------------------------------------------------- stickiness


@pytest.mark.parametrize("pre_vote", [False, True])
def test_a_follower_that_hears_its_leader_ignores_vote_requests(pre_vote: bool) -> None:
    election = follower_of(0, term=2, now_ms=1000)
    election.on_message(ask(3, candidate=2, pre_vote=pre_vote), 1000 + T_MS - 1)
    assert election.take_outputs() == []
    assert (election.term, election.leader_id) == (2, 0)
    election.on_message(ask(3, candidate=2, pre_vote=pre_vote), 1000 + T_MS)
    assert granted(election.take_outputs()) == [True]


def test_a_transfer_request_is_granted_despite_a_live_leader() -> None:
    election = follower_of(0, term=2, now_ms=1000)
    election.on_message(ask(3, candidate=2, transfer=True), 1001)
    assert granted(election.take_outputs()) == [True]


def test_a_leader_ignores_requests_that_would_depose_it() -> None:
    leader = elected(0)
    leader.on_message(ask(9, candidate=2, log=LogPosition(5, 99)), 10)
    leader.on_message(ask(9, candidate=2, log=LogPosition(5, 99), pre_vote=True), 10)
    assert leader.take_outputs() == []
    assert (leader.role, leader.term) == (Role.LEADER, 1)


def test_leader_contact_postpones_the_election() -> None:
    election = follower_of(0, term=1, now_ms=0)
    for now_ms in range(0, 10 * T_MS, T_MS // 2):
        assert election.on_leader_contact(1, 0, now_ms)
        election.tick(now_ms)
    assert election.take_outputs() == []


# ------------------------------------------------------------------------ terms and leaders


def test_a_higher_term_deposes_a_leader() -> None:
    leader = elected(0)
    leader.observe_term(4, 10)
    assert leader.take_outputs() == [PersistHardState(4, None), BecameFollower(4, None)]
    assert (leader.role, leader.leader_id) == (Role.FOLLOWER, None)


def test_a_rejected_vote_with_a_higher_term_deposes_a_leader() -> None:
    leader = elected(0)
    leader.on_message(VoteResponse(6, 2, False), 10)
    assert leader.take_outputs() == [PersistHardState(6, None), BecameFollower(6, None)]


def test_a_candidate_follows_a_leader_of_its_term() -> None:
    election = make(0, preferred_id=0)
    election.tick(0)
    election.on_message(VoteResponse(1, 1, True, pre_vote=True), 1)
    election.take_outputs()
    assert election.on_leader_contact(1, 2, 5)
    assert election.take_outputs() == [BecameFollower(1, 2)]


def test_a_leader_of_a_higher_term_is_followed_and_a_stale_one_refused() -> None:
    election = make(1, hard_state=HardState(3, None))
    assert not election.on_leader_contact(2, 0, 0)
    assert election.take_outputs() == []
    assert election.on_leader_contact(4, 2, 1)
    assert election.take_outputs() == [PersistHardState(4, None), BecameFollower(4, 2)]
    assert election.leader_id == 2


def test_two_leaders_in_one_term_crash_loudly() -> None:
    election = follower_of(0, term=3)
    with pytest.raises(AssertionError, match="two leaders"):
        election.on_leader_contact(3, 2, 1)


def test_messages_from_unknown_nodes_are_protocol_errors() -> None:
    election = make(1)
    for message in (ask(1, candidate=7), VoteResponse(1, 1, True), TimeoutNow(1, -1)):
        with pytest.raises(ProtocolError):
            election.on_message(message, 0)


# ----------------------------------------------------------------------------- check-quorum


def test_a_leader_that_hears_no_majority_within_t_steps_down() -> None:
    leader = elected(0, nodes_total=5, now_ms=0)
    leader.on_follower_contact(1, 50)
    leader.tick(T_MS - 1)
    assert leader.role is Role.LEADER
    leader.tick(T_MS)  # Only node 1 (and itself) heard within T: 2 of 5.
    assert leader.take_outputs() == [BecameFollower(1, None)]
    assert leader.term == 1


def test_a_leader_that_hears_a_majority_stays() -> None:
    leader = elected(0, nodes_total=5, now_ms=0)
    leader.on_follower_contact(1, 50)
    leader.on_follower_contact(3, 60)
    leader.tick(T_MS + 49)
    assert leader.role is Role.LEADER
    leader.tick(T_MS + 50)
    assert leader.role is Role.FOLLOWER


# -------------------------------------------------------------------------- leader transfer


def test_leadership_transfer_with_timeout_now() -> None:
    leader = elected(0)
    assert leader.begin_transfer(2, 10)
    assert leader.transfer_target == 2
    assert leader.send_timeout_now()
    assert leader.take_outputs() == [SendVote(2, TimeoutNow(1, 0))]

    target = follower_of(0, node_id=2, term=1, now_ms=10)
    target.on_message(TimeoutNow(1, 0), 11)
    assert target.take_outputs() == [
        PersistHardState(2, 2),
        BecameCandidate(2),
        SendVote(0, ask(2, candidate=2, transfer=True)),
        SendVote(1, ask(2, candidate=2, transfer=True)),
    ]

    bystander = follower_of(0, node_id=1, term=1, now_ms=10)
    bystander.on_message(ask(2, candidate=2, transfer=True), 12)
    assert granted(bystander.take_outputs()) == [True]

    leader.on_message(ask(2, candidate=2, transfer=True), 12)
    assert leader.take_outputs() == [
        PersistHardState(2, 2),
        BecameFollower(2, None),
        SendVote(2, VoteResponse(2, 0, True)),
    ]
    assert leader.transfer_target is None

    target.on_message(VoteResponse(2, 0, True), 13)
    assert target.take_outputs() == [BecameLeader(2)]


def test_a_transfer_that_does_not_finish_within_t_is_abandoned() -> None:
    leader = elected(0)
    assert leader.begin_transfer(1, 10)
    leader.on_follower_contact(2, 10 + T_MS - 1)
    leader.tick(10 + T_MS)
    assert (leader.role, leader.transfer_target) == (Role.LEADER, None)
    assert not leader.send_timeout_now()


def test_only_a_leader_transfers_and_not_to_itself() -> None:
    assert not make(1).begin_transfer(2, 0)
    assert not elected(0).begin_transfer(0, 0)
    with pytest.raises(ValueError):
        elected(0).begin_transfer(3, 0)


def test_timeout_now_from_a_stale_term_is_ignored() -> None:
    election = follower_of(0, term=3)
    election.on_message(TimeoutNow(2, 0), 1)
    assert election.take_outputs() == []
    assert election.role is Role.FOLLOWER


def test_a_closed_leader_stream_ends_the_lease_and_times_out_within_t_4() -> None:
    follower = make(1)
    assert follower.on_leader_contact(1, 0, now_ms=10)
    follower.take_outputs()
    # While the lease holds, a pre-vote from node 2 is refused (stickiness)...
    follower.on_message(ask(2, candidate=2, pre_vote=True), now_ms=20)
    assert follower.take_outputs() == []
    follower.on_leader_lost(0, now_ms=30)
    assert follower.take_outputs() == [BecameFollower(1, None)]
    # ...and once the stream closed it is granted, and this node asks too, within T/4.
    follower.on_message(ask(2, candidate=2, pre_vote=True), now_ms=31)
    assert follower.take_outputs() == [SendVote(2, VoteResponse(2, 1, granted=True, pre_vote=True))]
    follower.tick(30 + T_MS // 4)
    assert BecamePreCandidate(1) in follower.take_outputs()


def test_losing_a_stream_from_someone_else_than_the_leader_changes_nothing() -> None:
    follower = make(1)
    follower.on_leader_contact(1, 0, now_ms=10)
    follower.take_outputs()
    follower.on_leader_lost(2, now_ms=30)
    assert follower.take_outputs() == [] and follower.leader_id == 0
