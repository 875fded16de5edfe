"""FailoverWorld: three SimNodes electing and replacing their leader under faults.

The loop is the fixed-master World's (tests/sim/world.py): one seeded rng, an integer clock, a
heap of `(due_ms, seq, ...)` events, the invariants after every event and a bounded trace for
the failure report. A run is a fault phase of `steps_max` events, then a liveness phase: faults
and clients stop, every link heals, every node restarts, and within a bound the cluster must
settle on one leader that every node follows, with identical logs and nobody waiting.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from replog.core.election import Election, Role
from replog.core.follower import Follower
from replog.core.health import HealthThresholds
from replog.core.leader import Leader, LeaderLimits
from replog.core.progress import LinkMode
from replog.types import HealthState

from ..invariants import InvariantViolation
from ..world import SimFailure, _short
from .chaos import FailoverChaos
from .checker import FailoverChecker
from .clients import Answer, Clients, Request
from .net import Conn, PairNet
from .node import SimNode

__all__ = ["Answer", "FailoverConfig", "FailoverWorld", "Request"]

TRACE_MAX = 300


@dataclass(frozen=True, slots=True)
class FailoverConfig:
    """Sim milliseconds. T is 5 heartbeats; a peer is Unhealthy after T of silence, so the Leader turns
    read-only when check-quorum would depose it, and a follower hears a heartbeat well inside T."""

    nodes: int = 3
    clients: int = 3
    tick_ms: int = 30  # Election and Leader ticks: T/10.
    election_timeout_ms: int = 300
    heartbeat_interval_ms: int = 60
    suspect_after_ms: int = 150
    unhealthy_after_ms: int = 300
    backoff_base_ms: int = 20
    backoff_max_ms: int = 400
    dial_timeout_ms: int = 200
    net_delay_ms: tuple[int, int] = (1, 5)
    disk_sync_ms: tuple[int, int] = (1, 8)
    batch_entries_max: int = 16
    inflight_frames_max: int = 4
    request_id_window: int = 10_000
    steps_max: int = 900
    liveness_ms_max: int = 20_000

    @classmethod
    def random(cls, rng: random.Random) -> FailoverConfig:
        return replace(
            cls(),
            clients=rng.randint(1, 4),
            net_delay_ms=rng.choice(((1, 2), (1, 5), (2, 20))),
            disk_sync_ms=rng.choice(((0, 1), (1, 8), (2, 30))),
            batch_entries_max=rng.choice((1, 2, 16, 512)),
            inflight_frames_max=rng.choice((1, 2, 4, 16)),
        )


class FailoverWorld:
    def __init__(
        self,
        seed: int,
        *,
        config: FailoverConfig | None = None,
        election_cls: Callable[..., Election] = Election,
        leader_cls: Callable[..., Leader] = Leader,
        follower_cls: Callable[..., Follower] = Follower,
        node_cls: type[SimNode] = SimNode,
        faults: bool = True,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.config = config or FailoverConfig.random(self.rng)
        self.election_cls, self.leader_cls, self.follower_cls = election_cls, leader_cls, follower_cls
        c = self.config
        self.limits = LeaderLimits(
            thresholds=HealthThresholds(c.suspect_after_ms, c.unhealthy_after_ms),
            heartbeat_interval_ms=c.heartbeat_interval_ms,
            batch_entries_max=c.batch_entries_max,
            inflight_frames_max=c.inflight_frames_max,
            request_id_window=c.request_id_window,
        )
        self.now_ms = 0
        self.steps = 0
        self._heap: list[tuple[int, int, str, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self._trace: deque[tuple[int, str, object]] = deque(maxlen=TRACE_MAX)
        self.stats: Counter[str] = Counter()
        self.net = PairNet(self)
        self.nodes = [node_cls(self, i) for i in range(c.nodes)]
        self.checker = FailoverChecker(self)
        self.clients = Clients(self, c.clients)
        self.chaos = FailoverChaos(self)
        self._faults = faults
        self._started = False

    # --------------------------------------------------------------- the loop

    def schedule(self, delay_ms: int, label: str, fn: Callable[..., None], *args: Any) -> None:
        if delay_ms < 0:
            raise AssertionError(f"scheduling {label} in the past ({delay_ms} ms)")
        self._seq += 1
        heapq.heappush(self._heap, (self.now_ms + delay_ms, self._seq, label, fn, args))

    def note(self, who: str, what: object) -> None:
        self._trace.append((self.now_ms, who, what))

    record = note

    def step(self) -> bool:
        if not self._heap:
            return False
        due_ms, _, label, fn, args = heapq.heappop(self._heap)
        self.now_ms = due_ms
        self.steps += 1
        self._trace.append((due_ms, "event", label))
        try:
            fn(*args)
            self.checker.after_event()
        except Exception as exc:
            raise SimFailure(self.seed, self.steps, self.now_ms, exc, self.trace_lines()) from exc
        return True

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.note("world", f"seed {self.seed}: {self.config}")
        for node in self.nodes:
            node.start()
        self.clients.start()
        if self._faults:
            self.note("world", self.chaos.describe())
            self.chaos.start()

    def run_until(self, done: Callable[[], bool], duration_ms: int) -> bool:
        self.start()
        deadline_ms = self.now_ms + duration_ms
        while not done():
            if not self._heap or self._heap[0][0] > deadline_ms:
                return done()
            self.step()
        return True

    def run(self) -> None:
        """Fault phase, then heal, then liveness and the final checks."""
        self.start()
        for _ in range(self.config.steps_max):
            if not self.step():
                break
        self.heal()
        if not self.run_until(self.quiescent, self.config.liveness_ms_max):
            state = "; ".join(str(node) for node in self.nodes)
            error = InvariantViolation(
                f"liveness: not settled {self.config.liveness_ms_max} ms after the heal: {state}"
            )
            raise SimFailure(self.seed, self.steps, self.now_ms, error, self.trace_lines())
        try:
            self.checker.after_liveness()
        except InvariantViolation as exc:
            raise SimFailure(self.seed, self.steps, self.now_ms, exc, self.trace_lines()) from exc

    def heal(self) -> None:
        self.note("world", "HEAL: faults off, links healed, nodes restarted, clients stop")
        self.chaos.stop()
        self.clients.stop()
        for node in self.nodes:
            node.start()

    # ------------------------------------------------------------ operations

    def dial(self, node: SimNode, peer: int, term: int, token: tuple[int, int]) -> None:
        """`node` (leading `term`) dials `peer`: connected, refused (peer down) or timed out (cut)."""
        if not self.net.connectable(node.id, peer):
            self.schedule(
                self.config.dial_timeout_ms,
                f"n{node.id} dial n{peer} times out",
                node.on_dial_result,
                peer,
                token,
                None,
            )
        elif not self.nodes[peer].up:
            self.schedule(
                self.rng.randint(1, 3), f"n{node.id} dial n{peer} refused", node.on_dial_result, peer, token, None
            )
        else:
            self.schedule(
                self.rng.randint(1, 5), f"n{node.id} dial n{peer} connects", self._connected, node, peer, term, token
            )

    def _connected(self, node: SimNode, peer: int, term: int, token: tuple[int, int]) -> None:
        target = self.nodes[peer]
        if not self.net.connectable(node.id, peer) or not target.up:
            node.on_dial_result(peer, token, None)
            return
        conn = self.net.open(node.id, peer)
        self.note("net", f"open #{conn.conn_id} n{node.id} -> n{peer} (term {term})")
        target.accept(conn, term, node.id)
        node.on_dial_result(peer, token, conn)

    def close(self, conn: Conn, closer: int, reason: str) -> None:
        """Graceful close: what `closer` already sent still arrives, then the connection resets."""
        if not conn.alive:
            return
        dst = conn.other(closer)
        delay = max(0, conn.last_due_ms[dst] - self.now_ms) + 1
        self.schedule(delay, f"close #{conn.conn_id}", self.net.reset, conn, f"closed by n{closer}: {reason}")

    def answer(
        self,
        request: Request,
        kind: str,
        *,
        index: int = 0,
        first_index: int = 0,
        duplicate: bool = False,
        reason: str = "",
        hint: int | None = None,
    ) -> None:
        answer = Answer(kind, index, first_index, duplicate, reason, hint)
        self.note(f"client {kind} {index or ''}", request)
        if kind == "ok":
            self.checker.on_ok(request, answer)
        request.answer(answer)

    # ---------------------------------------------------------------- queries

    def leaders(self) -> list[SimNode]:
        return [n for n in self.nodes if n.leader is not None]

    def quiescent(self) -> bool:
        leaders = self.leaders()
        if len(leaders) != 1 or any(not n.up for n in self.nodes):
            return False
        node = leaders[0]
        leader, election = node.leader, node.election
        assert leader is not None and election is not None
        if election.role is not Role.LEADER or leader.waiting() or leader.read_only:
            return False
        last = node.disk.last_index
        if node.disk.synced_index != last or leader.commit_index != last:
            return False
        for other in self.nodes:
            e = other.election
            assert e is not None
            if other.waiting or e.term != election.term or e.leader_id != node.id:
                return False
            if other.disk.synced_index != last or other.disk.last_index != last:
                return False
            if other.disk.term_at(last) != node.disk.term_at(last):
                return False  # Same length, another history: the Welcome that truncates it is on its way.
        return all(s.health is HealthState.HEALTHY and s.mode is LinkMode.STREAM for s in leader.peer_status())

    def trace_lines(self) -> list[str]:
        return [f"{at_ms:>8} ms  {who:<14} {_short(what)}" for at_ms, who, what in self._trace]
