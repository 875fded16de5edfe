"""Leader election: Raft terms and votes with pre-vote, check-quorum, leader stickiness and
leadership transfer, as a pure state machine (DESIGN §9; etcd-io/raft `raft.go` is the model).

The election owns the term and decides the role; it knows nothing of replication. On
`BecameLeader` the node shell builds a `Leader` from its local log, on any other `Became*` it
drops that `Leader` and runs a `Follower`. The shell hosts a `Leader` exactly while the last
`Became*` it applied was `BecameLeader`.

Roles: FOLLOWER → (timeout) PRE_CANDIDATE → (majority of pre-votes) CANDIDATE → (majority of
votes) LEADER. A pre-candidate has its own role value because "no leader known, election in
progress" is what the shell must answer clients (503); for replication it is still a follower.

Inputs (time comes in as `now_ms`; the core never reads a clock):
- `tick(now_ms)`: call often (every ~T/10). Followers campaign when their timeout expires; a leader
  steps down when it has not heard from a majority within T (check-quorum).
- `on_message(message, now_ms)`: a `VoteRequest`, `VoteResponse` or `TimeoutNow` from another node.
- `on_leader_contact(term, leader_id, now_ms) -> bool`: an Append or Heartbeat arrived on the
  replication stream. False means the sender's term is stale: refuse the stream and tell the
  sender our `term`, which it feeds to `observe_term`.
- `on_follower_contact(node, now_ms)`: on the leader, any frame from that follower (check-quorum).
- `on_leader_lost(leader_id, now_ms)`: a follower's stream from its leader closed; time out soon.
- `observe_term(term, now_ms)`: any other frame carrying a term (e.g. a refusal); a higher one
  makes this node a follower in it.
- `begin_transfer(target, now_ms)`, then `send_timeout_now()` once the shell has levelled the
  target's log: leadership transfer. `transfer_target` is set meanwhile; the shell takes no new
  appends while it is. A transfer that has not finished within T is abandoned.

Outputs (`take_outputs()`, core/outputs.py `ElectionOutput`), to apply **in order**:
`PersistHardState(term, voted_for)` (write meta.json and fsync it before acting on anything after
it), `SendVote(peer, message)`, and `BecameFollower/BecamePreCandidate/BecameCandidate/BecameLeader`.
Like etcd's Ready, state changes are reported lazily: before each `SendVote` and when drained,
at most one `PersistHardState` and one `Became*` describe the state reached so far, so a hard
state always precedes the messages that depend on it and transient roles may be skipped.
The shell should drain and apply these outputs before it feeds the replication core the frame
that caused them, so that a new term is durable before entries of that term are acknowledged.

`log_position()` is a callback returning the local log's last *synced* entry as
`LogPosition(last_term, last_index)` (`(0, 0)` when empty): read when campaigning and when
answering a vote, because the log moves between calls. Synced, because the Follower acks only
synced entries, so a vote never claims or weighs entries a crash could take away.

A shell, in outline:

    election = Election(config, hard_state=meta.hard_state, log_position=store.position, rng=rng, now_ms=now)
    election.on_message(vote_from_peer, now)      # or tick / on_leader_contact / ...
    for out in election.take_outputs():
        match out:
            case PersistHardState(term, voted_for): meta.write_hard_state(term, voted_for)  # + fsync
            case SendVote(peer, message): vote_client.post(peer, message)  # answers go to on_message
            case BecameLeader(term): start_leader(term)
            case _: stop_leading()  # idempotent; client forwarding reads election.leader_id
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from replog.core.outputs import (
    BecameCandidate,
    BecameFollower,
    BecameLeader,
    BecamePreCandidate,
    ElectionOutput,
    PersistHardState,
    SendVote,
)
from replog.core.vote_messages import TimeoutNow, VoteMessage, VoteRequest, VoteResponse
from replog.errors import ProtocolError

__all__ = ["Election", "ElectionConfig", "HardState", "LogPosition", "Role"]


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class LogPosition(NamedTuple):
    """The last entry of a log; tuples compare term first, then index, which is Raft's order."""

    last_term: int
    last_index: int


@dataclass(frozen=True, slots=True)
class HardState:
    """What must survive a restart: the term, and whom this node voted for in it."""

    term: int = 0
    voted_for: int | None = None


@dataclass(frozen=True, slots=True)
class ElectionConfig:
    node_id: int
    nodes_total: int
    preferred_id: int
    election_timeout_ms: int

    def __post_init__(self) -> None:
        if self.nodes_total < 1 or self.election_timeout_ms < 1:
            raise ValueError("need nodes_total >= 1 and election_timeout_ms >= 1")
        if not (0 <= self.node_id < self.nodes_total and 0 <= self.preferred_id < self.nodes_total):
            raise ValueError(f"node ids must be in 0..{self.nodes_total - 1}")

    @property
    def majority(self) -> int:
        return self.nodes_total // 2 + 1


class Election:
    def __init__(
        self,
        config: ElectionConfig,
        *,
        hard_state: HardState,
        log_position: Callable[[], LogPosition],
        rng: random.Random,
        now_ms: int,
    ) -> None:
        """`hard_state` is what meta.json holds (`HardState()` on a fresh node). Every node starts
        as a follower with no leader known; no output says so."""
        if hard_state.voted_for is not None and not 0 <= hard_state.voted_for < config.nodes_total:
            raise ValueError(f"voted_for {hard_state.voted_for} is not a node id")
        self._config = config
        self._id = config.node_id
        self._peers = tuple(node for node in range(config.nodes_total) if node != self._id)
        self._log_position = log_position
        self._rng = rng
        self._term = hard_state.term
        self._voted_for = hard_state.voted_for
        self._role = Role.FOLLOWER
        self._leader_id: int | None = None
        self._leader_heard_ms = 0
        self._peer_heard_ms: dict[int, int] = {}  # Leader only: last frame from each follower.
        self._votes: dict[int, bool] = {}  # This round's answers, pre-votes or votes.
        self._transfer_target: int | None = None
        self._transfer_deadline_ms = 0
        self._timeout_ms = self._draw_timeout_ms()
        # The configured master campaigns at once, so a fresh cluster elects it without a race; the
        # others wait a full timeout, in which a restarted node also hears from a live leader.
        self._deadline_ms = now_ms if self._id == config.preferred_id else now_ms + self._timeout_ms
        self._outputs: list[ElectionOutput] = []
        self._reported_hard = hard_state
        self._reported_soft: tuple[Role, int, int | None] = (self._role, self._term, None)

    # ----------------------------------------------------------------- queries

    @property
    def node_id(self) -> int:
        return self._id

    @property
    def term(self) -> int:
        return self._term

    @property
    def voted_for(self) -> int | None:
        return self._voted_for

    @property
    def hard_state(self) -> HardState:
        return HardState(self._term, self._voted_for)

    @property
    def role(self) -> Role:
        return self._role

    @property
    def leader_id(self) -> int | None:
        """The leader of the current term if known: this node itself when it leads."""
        return self._leader_id

    @property
    def transfer_target(self) -> int | None:
        return self._transfer_target

    def take_outputs(self) -> list[ElectionOutput]:
        self._flush()
        outputs, self._outputs = self._outputs, []
        return outputs

    # ------------------------------------------------------------------ inputs

    def tick(self, now_ms: int) -> None:
        if self._role is Role.LEADER:
            if self._transfer_target is not None and now_ms >= self._transfer_deadline_ms:
                self._transfer_target = None  # The target did not win in time: lead on (etcd does the same).
            if not self._has_quorum(now_ms):
                self._become_follower(self._term, None, now_ms)
        elif now_ms >= self._deadline_ms:
            self._start_pre_vote(now_ms)

    def on_message(self, message: VoteMessage, now_ms: int) -> None:
        match message:
            case VoteRequest():
                self._check_sender(message.candidate)
                self._on_vote_request(message, now_ms)
            case VoteResponse():
                self._check_sender(message.voter)
                self._on_vote_response(message, now_ms)
            case TimeoutNow():
                self._check_sender(message.leader)
                self._on_timeout_now(message, now_ms)

    def on_leader_contact(self, term: int, leader_id: int, now_ms: int) -> bool:
        self._check_sender(leader_id)
        if term < self._term:
            return False
        if term == self._term and (self._role is Role.LEADER or self._leader_id not in (None, leader_id)):
            raise AssertionError(f"two leaders in term {term}: {self._leader_id} and {leader_id}")
        if (term, Role.FOLLOWER, leader_id) != (self._term, self._role, self._leader_id):
            self._become_follower(term, leader_id, now_ms)
        self._leader_heard_ms = now_ms
        self._deadline_ms = now_ms + self._timeout_ms
        return True

    def on_leader_lost(self, leader_id: int, now_ms: int) -> None:
        """The leader's stream closed (a killed process closes its sockets at once): stop counting on
        its lease and time out within T/4 instead of T..2T. Safe whatever the cause: a pre-vote still
        needs a majority, and the other followers refuse it while they hear from a live leader."""
        self._check_sender(leader_id)
        if self._role is Role.FOLLOWER and self._leader_id == leader_id:
            self._leader_id = None
            soon_ms = now_ms + self._rng.randint(0, max(1, self._config.election_timeout_ms // 4))
            self._deadline_ms = min(self._deadline_ms, soon_ms)

    def on_follower_contact(self, node: int, now_ms: int) -> None:
        self._check_sender(node)
        if self._role is Role.LEADER:
            self._peer_heard_ms[node] = max(now_ms, self._peer_heard_ms[node])

    def observe_term(self, term: int, now_ms: int) -> None:
        if term > self._term:
            self._become_follower(term, None, now_ms)

    def begin_transfer(self, target: int, now_ms: int) -> bool:
        """Start handing leadership to `target`; False if this node does not lead or is the target."""
        if not 0 <= target < self._config.nodes_total:
            raise ValueError(f"node {target} is not in 0..{self._config.nodes_total - 1}")
        if self._role is not Role.LEADER or target == self._id:
            return False
        self._transfer_target = target
        self._transfer_deadline_ms = now_ms + self._config.election_timeout_ms
        return True

    def send_timeout_now(self) -> bool:
        """The target's log is level with ours: tell it to campaign now. False if no transfer is on."""
        if self._role is not Role.LEADER or self._transfer_target is None:
            return False
        self._send(self._transfer_target, TimeoutNow(self._term, self._id))
        return True

    # ------------------------------------------------------------ vote rules

    def _on_vote_request(self, m: VoteRequest, now_ms: int) -> None:
        if m.term > self._term:
            if self._in_lease(now_ms) and not m.transfer:
                return  # Stickiness: a live leader exists, so a node that wants an election is cut off.
            if not m.pre_vote:
                self._become_follower(m.term, None, now_ms)
        elif m.term < self._term:
            if m.pre_vote:
                # Answer with our term so a lagging pre-candidate catches up instead of retrying forever.
                self._send(m.candidate, VoteResponse(self._term, self._id, granted=False, pre_vote=True))
            return
        if self._can_vote(m) and self._log_ok(m):
            if not m.pre_vote:
                self._voted_for = m.candidate  # Set before the send: the flush persists it first.
                self._reset_timer(now_ms)
            self._send(m.candidate, VoteResponse(m.term, self._id, granted=True, pre_vote=m.pre_vote))
        else:
            self._send(m.candidate, VoteResponse(self._term, self._id, granted=False, pre_vote=m.pre_vote))

    def _can_vote(self, m: VoteRequest) -> bool:
        """One vote per term, and none for a term whose leader we know (etcd's canVote)."""
        if m.pre_vote and m.term > self._term:
            return True
        return self._voted_for == m.candidate or (self._voted_for is None and self._leader_id is None)

    def _log_ok(self, m: VoteRequest) -> bool:
        """Raft §5.4.1: the candidate's log is at least as up to date as ours."""
        return LogPosition(m.last_term, m.last_index) >= self._log_position()

    def _on_vote_response(self, m: VoteResponse, now_ms: int) -> None:
        if m.term > self._term and not (m.pre_vote and m.granted):
            self._become_follower(m.term, None, now_ms)  # A pre-vote grant carries the term we asked for.
            return
        if m.pre_vote:
            counts = self._role is Role.PRE_CANDIDATE and m.term == self._term + int(m.granted)
        else:
            counts = self._role is Role.CANDIDATE and m.term == self._term
        if counts:
            self._votes.setdefault(m.voter, m.granted)
            self._tally(now_ms)

    def _on_timeout_now(self, m: TimeoutNow, now_ms: int) -> None:
        if m.term > self._term:
            self._become_follower(m.term, m.leader, now_ms)
        if m.term == self._term and self._role is Role.FOLLOWER:
            self._start_election(now_ms, transfer=True)  # Skips pre-vote: the leader asked for it (§3.10).

    # ------------------------------------------------------------- campaigns

    def _start_pre_vote(self, now_ms: int) -> None:
        self._enter(Role.PRE_CANDIDATE, None, now_ms)
        if self._tally(now_ms):
            return
        last = self._log_position()
        for peer in self._peers:
            self._send(peer, VoteRequest(self._term + 1, self._id, last.last_term, last.last_index, pre_vote=True))

    def _start_election(self, now_ms: int, *, transfer: bool) -> None:
        self._term += 1
        self._voted_for = self._id
        self._enter(Role.CANDIDATE, None, now_ms)
        if self._tally(now_ms):
            return
        last = self._log_position()
        for peer in self._peers:
            self._send(peer, VoteRequest(self._term, self._id, last.last_term, last.last_index, transfer=transfer))

    def _tally(self, now_ms: int) -> bool:
        """Act on a decided round; True if it is decided. Counts this node's own yes."""
        granted = sum(self._votes.values())
        if granted >= self._config.majority:
            if self._role is Role.PRE_CANDIDATE:
                self._start_election(now_ms, transfer=False)
            else:
                self._enter(Role.LEADER, self._id, now_ms)
                self._peer_heard_ms = dict.fromkeys(self._peers, now_ms)  # A full T to reach a majority.
            return True
        if len(self._votes) - granted > self._config.nodes_total - self._config.majority:
            self._become_follower(self._term, None, now_ms)  # Lost: wait a fresh timeout, then retry.
            return True
        return False

    # ----------------------------------------------------------------- helpers

    def _become_follower(self, term: int, leader_id: int | None, now_ms: int) -> None:
        if term > self._term:
            self._term = term
            self._voted_for = None
        self._enter(Role.FOLLOWER, leader_id, now_ms)
        if leader_id is not None:
            self._leader_heard_ms = now_ms

    def _enter(self, role: Role, leader_id: int | None, now_ms: int) -> None:
        self._role = role
        self._leader_id = leader_id
        self._votes = {self._id: True} if role in (Role.PRE_CANDIDATE, Role.CANDIDATE) else {}
        self._transfer_target = None
        self._reset_timer(now_ms)

    def _reset_timer(self, now_ms: int) -> None:
        self._timeout_ms = self._draw_timeout_ms()
        self._deadline_ms = now_ms + self._timeout_ms

    def _draw_timeout_ms(self) -> int:
        # Random in [T, 2T], so that split votes resolve: one node usually times out well first. The
        # configured master draws from [T/2, T]: it is meant to lead, and in a cluster that starts
        # together its first pre-vote often goes out before the others listen, so its retry must come
        # before their first try. Pre-vote and stickiness keep its haste harmless while a leader lives.
        timeout_ms = self._config.election_timeout_ms
        if self._id == self._config.preferred_id:
            return self._rng.randint(max(1, timeout_ms // 2), timeout_ms)
        return self._rng.randint(timeout_ms, 2 * timeout_ms)

    def _in_lease(self, now_ms: int) -> bool:
        """Heard from a live leader within T (a leader trusts itself: check-quorum deposes it)."""
        if self._role is Role.LEADER:
            return True
        return self._leader_id is not None and now_ms - self._leader_heard_ms < self._config.election_timeout_ms

    def _has_quorum(self, now_ms: int) -> bool:
        window_ms = self._config.election_timeout_ms
        heard = sum(now_ms - heard_ms < window_ms for heard_ms in self._peer_heard_ms.values())
        return 1 + heard >= self._config.majority

    def _check_sender(self, node: int) -> None:
        if not 0 <= node < self._config.nodes_total or node == self._id:
            raise ProtocolError(f"node {node} is not a peer of node {self._id}")

    def _send(self, peer: int, message: VoteMessage) -> None:
        self._flush()
        self._outputs.append(SendVote(peer, message))

    def _flush(self) -> None:
        """Report the hard state, then the role, if they changed since last reported (etcd's Ready)."""
        hard = HardState(self._term, self._voted_for)
        if hard != self._reported_hard:
            self._outputs.append(PersistHardState(hard.term, hard.voted_for))
            self._reported_hard = hard
        soft = (self._role, self._term, self._leader_id)
        if soft != self._reported_soft:
            self._outputs.append(self._became())
            self._reported_soft = soft

    def _became(self) -> ElectionOutput:
        match self._role:
            case Role.LEADER:
                return BecameLeader(self._term)
            case Role.CANDIDATE:
                return BecameCandidate(self._term)
            case Role.PRE_CANDIDATE:
                return BecamePreCandidate(self._term)
            case Role.FOLLOWER:
                return BecameFollower(self._term, self._leader_id)
