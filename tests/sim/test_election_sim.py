"""Randomized elections: N=3 and N=5 `Election`s wired through a fake network, many seeds.

The network drops, delays and reorders messages, partitions the nodes and crashes and restarts
them; a restarted node keeps only its persisted hard state. Logs are fixed per seed and differ
between nodes, so the up-to-date rule matters. The leader's heartbeats stand in for the
replication stream: `Beat` feeds `on_leader_contact`, the reply feeds `on_follower_contact`
or `observe_term`. Outputs are applied in order right after each input, as a shell would.

Checked after every input: at most one leader per term, no node's term goes down, a node votes
at most once per term (and persists the vote before sending it), and every leader's log is at
least as up to date as a majority's. Liveness: once healed, one leader that all nodes follow.
Two planted bugs must each be caught by some seed.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

import pytest

from replog.core.election import Election, ElectionConfig, HardState, LogPosition, Role
from replog.core.outputs import BecameLeader, PersistHardState, SendVote
from replog.core.vote_messages import VoteMessage, VoteRequest, VoteResponse

from .seeds import sim_seeds

T_MS = 100
STEP_MS = 10
HEARTBEAT_MS = 30
CHAOS_MS = 3_000
LIVENESS_MS = 40 * T_MS
SEEDS = sim_seeds(default=80)


@dataclass(frozen=True, slots=True)
class Beat:
    term: int
    leader: int


@dataclass(frozen=True, slots=True)
class BeatReply:
    beat_term: int
    node: int
    ok: bool
    term: int


SimMessage = VoteMessage | Beat | BeatReply


class Violation(Exception):
    pass


class ElectionWorld:
    def __init__(self, nodes_total: int, seed: int, election_cls: type[Election] = Election) -> None:
        self.rng = random.Random(seed)
        self.nodes_total = nodes_total
        self.majority = nodes_total // 2 + 1
        self.election_cls = election_cls
        self.now_ms = 0
        self.preferred_id = self.rng.randrange(nodes_total)
        self.logs = [LogPosition(self.rng.randint(0, 3), self.rng.randint(0, 5)) for _ in range(nodes_total)]
        self.disk = [HardState() for _ in range(nodes_total)]
        self.nodes: list[Election | None] = [self._boot(i) for i in range(nodes_total)]
        self.group = [0] * nodes_total  # Nodes talk only within their group.
        self.drop_p = 0.1
        self.delay_ms_max = 40
        self.queue: list[tuple[int, int, int, int, SimMessage]] = []
        self.seq = 0
        self.beat_ms: dict[int, int] = {}
        self.leader_of_term: dict[int, int] = {}
        self.vote_of: dict[tuple[int, int], int] = {}  # (voter, term) -> candidate
        self.term_seen = [0] * nodes_total

    def _boot(self, i: int) -> Election:
        config = ElectionConfig(i, self.nodes_total, self.preferred_id, T_MS)
        log = self.logs[i]
        return self.election_cls(
            config,
            hard_state=self.disk[i],
            log_position=lambda: log,
            rng=random.Random(self.rng.getrandbits(32)),
            now_ms=self.now_ms,
        )

    # ------------------------------------------------------------------ network

    def send(self, src: int, dst: int, message: SimMessage) -> None:
        if self.group[src] != self.group[dst] or self.rng.random() < self.drop_p:
            return
        self.seq += 1
        due_ms = self.now_ms + self.rng.randint(1, self.delay_ms_max)
        heapq.heappush(self.queue, (due_ms, self.seq, src, dst, message))

    def deliver_due(self) -> None:
        due = []
        while self.queue and self.queue[0][0] <= self.now_ms:
            due.append(heapq.heappop(self.queue))
        self.rng.shuffle(due)  # Delivery order within a step is random too.
        for _, _, src, dst, message in due:
            node = self.nodes[dst]
            if node is not None and self.group[src] == self.group[dst]:
                self.receive(dst, node, src, message)

    def receive(self, i: int, node: Election, src: int, message: SimMessage) -> None:
        match message:
            case Beat(term=term, leader=leader):
                ok = node.on_leader_contact(term, leader, self.now_ms)
                self.apply(i)  # The new term is durable before the reply goes out.
                self.send(i, src, BeatReply(term, i, ok, node.term))
            case BeatReply(beat_term=beat_term, node=peer, ok=ok, term=term):
                node.observe_term(term, self.now_ms)
                if ok and node.role is Role.LEADER and node.term == beat_term:
                    node.on_follower_contact(peer, self.now_ms)
                self.apply(i)
            case _:
                node.on_message(message, self.now_ms)
                self.apply(i)

    # ------------------------------------------------------------ the "shell"

    def apply(self, i: int) -> None:
        node = self.nodes[i]
        assert node is not None
        for output in node.take_outputs():
            match output:
                case PersistHardState(term=term, voted_for=voted_for):
                    self.check_vote(i, term, voted_for)
                    self.disk[i] = HardState(term, voted_for)
                case SendVote(peer=peer, message=message):
                    self.check_persisted_before_send(i, peer, message)
                    self.send(i, peer, message)
                case BecameLeader(term=term):
                    self.check_leader(i, term)
        if node.term < self.term_seen[i]:
            raise Violation(f"node {i}'s term went down from {self.term_seen[i]} to {node.term}")
        self.term_seen[i] = node.term

    def step(self, chaos: bool) -> None:
        self.now_ms += STEP_MS
        if chaos:
            self.inject_faults()
        self.deliver_due()
        for i, node in enumerate(self.nodes):
            if node is not None:
                node.tick(self.now_ms)
                self.apply(i)
        for i, node in enumerate(self.nodes):
            if node is not None and node.role is Role.LEADER and self.now_ms - self.beat_ms.get(i, -1) >= HEARTBEAT_MS:
                self.beat_ms[i] = self.now_ms
                for peer in range(self.nodes_total):
                    if peer != i:
                        self.send(i, peer, Beat(node.term, i))

    def inject_faults(self) -> None:
        roll = self.rng.random()
        up = [i for i, node in enumerate(self.nodes) if node is not None]
        down = [i for i, node in enumerate(self.nodes) if node is None]
        leaders = [i for i, node in enumerate(self.nodes) if node is not None and node.role is Role.LEADER]
        if roll < 0.02 and up:
            # Crash, the leader more often than not: only the persisted hard state survives.
            self.nodes[self.rng.choice(leaders if leaders and roll < 0.012 else up)] = None
        elif roll < 0.05 and down:
            i = self.rng.choice(down)
            self.nodes[i] = self._boot(i)
        elif roll < 0.07:
            self.group = [self.rng.randrange(2) for _ in self.nodes]
        elif roll < 0.09:
            self.group = [0] * self.nodes_total
        elif roll < 0.10 and leaders:
            # A leadership transfer; the target's log may be behind (nothing levels it here), so
            # the voters' up-to-date check must still hold for transfer votes.
            i = leaders[0]
            node = self.nodes[i]
            assert node is not None
            if node.begin_transfer(self.rng.choice([p for p in range(self.nodes_total) if p != i]), self.now_ms):
                node.send_timeout_now()
                self.apply(i)

    def heal(self) -> None:
        self.group = [0] * self.nodes_total
        self.drop_p = 0.0
        self.delay_ms_max = 10
        for i, node in enumerate(self.nodes):
            if node is None:
                self.nodes[i] = self._boot(i)

    def settled_leader(self) -> int | None:
        """The one leader every node follows, in its term, or None."""
        nodes = [node for node in self.nodes if node is not None]
        leaders = [node for node in nodes if node.role is Role.LEADER]
        if len(nodes) < self.nodes_total or len(leaders) != 1:
            return None
        leader = leaders[0]
        if all(node.leader_id == leader.node_id and node.term == leader.term for node in nodes):
            return leader.node_id
        return None

    # --------------------------------------------------------------- invariants

    def check_vote(self, i: int, term: int, voted_for: int | None) -> None:
        if term < self.disk[i].term:
            raise Violation(f"node {i} persisted term {term} after {self.disk[i].term}")
        if voted_for is not None:
            earlier = self.vote_of.setdefault((i, term), voted_for)
            if earlier != voted_for:
                raise Violation(f"node {i} voted for {earlier} and {voted_for} in term {term}")

    def check_persisted_before_send(self, i: int, peer: int, message: VoteMessage) -> None:
        expected = None
        if isinstance(message, VoteRequest) and not message.pre_vote:
            expected = HardState(message.term, i)
        elif isinstance(message, VoteResponse) and message.granted and not message.pre_vote:
            expected = HardState(message.term, peer)
        if expected is not None and self.disk[i] != expected:
            raise Violation(f"node {i} sent {message} with {self.disk[i]} on disk")

    def check_leader(self, i: int, term: int) -> None:
        if self.disk[i] != HardState(term, i):
            raise Violation(f"node {i} leads term {term} with {self.disk[i]} on disk")
        earlier = self.leader_of_term.setdefault(term, i)
        if earlier != i:
            raise Violation(f"nodes {earlier} and {i} both led term {term}")
        behind = sum(log <= self.logs[i] for log in self.logs)
        if behind < self.majority:
            raise Violation(f"leader {i} of term {term} has log {self.logs[i]}, behind a majority of {self.logs}")


def run(nodes_total: int, seed: int, election_cls: type[Election] = Election) -> int:
    """Chaos, then heal; returns how long the healed cluster took to settle on one leader."""
    world = ElectionWorld(nodes_total, seed, election_cls)
    while world.now_ms < CHAOS_MS:
        world.step(chaos=True)
    world.heal()
    healed_ms = world.now_ms
    while world.now_ms - healed_ms < LIVENESS_MS:
        world.step(chaos=False)
        if world.settled_leader() is not None:
            return world.now_ms - healed_ms
    raise Violation(f"no settled leader {LIVENESS_MS} ms after healing")


@pytest.mark.parametrize("nodes_total", [3, 5])
def test_elections_are_safe_and_settle_after_healing(nodes_total: int) -> None:
    settle_ms = []
    for seed in SEEDS:
        try:
            settle_ms.append(run(nodes_total, seed))
        except Violation as violation:
            pytest.fail(f"N={nodes_total}: {violation}\nreproduce: REPLOG_SIM_SEED={seed} pytest {__file__}")
    assert max(settle_ms) <= LIVENESS_MS


def test_a_fresh_cluster_elects_the_preferred_node() -> None:
    for seed in range(20):
        world = ElectionWorld(5, seed)
        world.logs = [LogPosition(0, 0)] * 5
        world.nodes = [world._boot(i) for i in range(5)]
        world.drop_p = 0.0
        world.delay_ms_max = 10
        while world.settled_leader() is None:
            world.step(chaos=False)
        assert world.leader_of_term == {1: world.preferred_id}
        assert world.now_ms < T_MS, "the preferred node must not wait for a timeout"


# ------------------------------------------------------------------------- planted bugs


class VotesTwice(Election):
    """Bug 1: forgets that it already voted in this term."""

    def _can_vote(self, m: VoteRequest) -> bool:
        return True


class SkipsLogCheck(Election):
    """Bug 2: grants votes without comparing logs."""

    def _log_ok(self, m: VoteRequest) -> bool:
        return True


@pytest.mark.parametrize(
    ("election_cls", "caught_by"),
    [(VotesTwice, ("voted for", "both led")), (SkipsLogCheck, ("behind a majority",))],
    ids=["votes-twice", "skips-log-check"],
)
def test_planted_bugs_are_caught(election_cls: type[Election], caught_by: tuple[str, ...]) -> None:
    for seed in range(200):
        for nodes_total in (3, 5):
            try:
                run(nodes_total, seed, election_cls)
            except Violation as violation:
                assert any(words in str(violation) for words in caught_by), f"seed {seed}: {violation}"
                return
    pytest.fail(f"{election_cls.__name__} was never caught")
