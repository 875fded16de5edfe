"""PairNet: ordered connections between any two nodes, plus lossy datagrams for votes.

Why not the fixed-master SimNet: there the master is one end of every connection and a fault
names a secondary. With failover any node may dial any other, and the faults are about directed
links: `cut(a, b)` drops a→b while b→a still works (an asymmetric link), a partition cuts both
directions of every link of one node.

- A connection's frames arrive in order, each after a seeded delay; a cut direction holds its
  frames (TCP retransmits) until the cut heals. A dial needs both directions.
- A reset loses what is in flight and tells both ends, each after its own small delay.
- Votes travel as datagrams (the real node POSTs them): a cut link or the vote-loss rate drops
  them, and each one is delayed on its own, so they may also arrive out of order.
- Every replication frame goes through `replog.wire.codec` and must round-trip unchanged.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from replog.core.messages import Message
from replog.core.vote_messages import VoteMessage
from replog.errors import ProtocolError
from replog.wire import codec

from ..invariants import InvariantViolation

if TYPE_CHECKING:
    from .world import FailoverWorld

__all__ = ["Conn", "PairNet"]


@dataclass(slots=True)
class _Flight:
    due_ms: int
    frame: bytes
    message: Message


@dataclass(slots=True)
class Conn:
    """One connection; `dialer` is the leader side, `acceptor` the follower side."""

    conn_id: int
    dialer: int
    acceptor: int
    alive: bool = True
    queues: dict[int, deque[_Flight]] = field(default_factory=dict)  # keyed by destination node
    last_due_ms: dict[int, int] = field(default_factory=dict)
    pumping: dict[int, bool] = field(default_factory=dict)

    def other(self, node: int) -> int:
        return self.acceptor if node == self.dialer else self.dialer


class PairNet:
    def __init__(self, world: FailoverWorld) -> None:
        self._world = world
        self._conns: dict[int, Conn] = {}
        self._next_id = 1
        self.cuts: set[tuple[int, int]] = set()  # (src, dst): frames and datagrams src→dst do not pass
        self._spikes: dict[int, tuple[int, int]] = {}  # node -> (until_ms, extra_ms), both directions
        self.vote_loss = 0.0
        self.frames = 0
        self.datagrams = 0

    # ----------------------------------------------------------------- queries

    def passes(self, src: int, dst: int) -> bool:
        return (src, dst) not in self.cuts

    def connectable(self, a: int, b: int) -> bool:
        return self.passes(a, b) and self.passes(b, a)

    def live(self) -> list[Conn]:
        return list(self._conns.values())

    # --------------------------------------------------------------- lifecycle

    def open(self, dialer: int, acceptor: int) -> Conn:
        conn = Conn(self._next_id, dialer, acceptor)
        for node in (dialer, acceptor):
            conn.queues[node] = deque()
            conn.last_due_ms[node] = 0
            conn.pumping[node] = False
        self._next_id += 1
        self._conns[conn.conn_id] = conn
        return conn

    def send(self, conn: Conn, src: int, message: Message) -> None:
        """Queue one frame from `src` to the other end; lost if the connection is gone."""
        if not conn.alive:
            return
        self.frames += 1
        dst = conn.other(src)
        due_ms = max(self._world.now_ms + self._delay_ms(src, dst), conn.last_due_ms[dst])
        conn.last_due_ms[dst] = due_ms  # In order: a frame never overtakes the one before it.
        conn.queues[dst].append(_Flight(due_ms, codec.encode(message), message))
        self._schedule_pump(conn, dst)

    def reset(self, conn: Conn, reason: str) -> None:
        """Abrupt close: frames in flight are lost; each end hears of it after its own delay."""
        if not conn.alive:
            return
        conn.alive = False
        del self._conns[conn.conn_id]
        world = self._world
        world.note("net", f"reset #{conn.conn_id} n{conn.dialer}->n{conn.acceptor}: {reason}")
        for node in (conn.dialer, conn.acceptor):
            world.schedule(world.rng.randint(0, 5), f"n{node} hears reset", world.nodes[node].on_closed, conn)

    def datagram(self, src: int, dst: int, message: VoteMessage) -> None:
        world = self._world
        if not self.passes(src, dst) or world.rng.random() < self.vote_loss:
            world.stats["votes lost"] += 1
            return
        self.datagrams += 1
        world.schedule(self._delay_ms(src, dst), f"vote n{src}->n{dst}", world.nodes[dst].on_vote, message)

    # ------------------------------------------------------------------ faults

    def cut(self, src: int, dst: int) -> None:
        self.cuts.add((src, dst))

    def uncut(self, src: int, dst: int) -> None:
        self.cuts.discard((src, dst))
        for conn in self.live():
            if {conn.dialer, conn.acceptor} == {src, dst}:
                self._schedule_pump(conn, dst)

    def spike(self, node: int, extra_ms: int, duration_ms: int) -> None:
        self._spikes[node] = (self._world.now_ms + duration_ms, extra_ms)

    def heal_all(self) -> None:
        cuts = sorted(self.cuts)
        self.cuts.clear()
        self._spikes.clear()
        self.vote_loss = 0.0
        for src, dst in cuts:
            self.uncut(src, dst)

    # ----------------------------------------------------------------- helpers

    def _delay_ms(self, src: int, dst: int) -> int:
        world = self._world
        low, high = world.config.net_delay_ms
        delay = world.rng.randint(low, high)
        for node in (src, dst):
            until_ms, extra_ms = self._spikes.get(node, (0, 0))
            if world.now_ms < until_ms:
                delay += world.rng.randint(extra_ms // 2, extra_ms)
        return delay

    def _schedule_pump(self, conn: Conn, dst: int) -> None:
        queue = conn.queues[dst]
        if conn.pumping[dst] or not queue or not self.passes(conn.other(dst), dst):
            return
        conn.pumping[dst] = True
        delay = max(0, queue[0].due_ms - self._world.now_ms)
        self._world.schedule(delay, f"deliver #{conn.conn_id} to n{dst}", self._pump, conn, dst)

    def _pump(self, conn: Conn, dst: int) -> None:
        """Deliver one frame per event, so the invariants run between frames."""
        conn.pumping[dst] = False
        if not conn.alive or not self.passes(conn.other(dst), dst):
            return
        flight = conn.queues[dst].popleft()
        try:
            message = codec.decode(flight.frame)
        except ProtocolError as exc:
            raise InvariantViolation(f"codec: a frame we encoded does not decode: {exc}") from None
        if message != flight.message:
            raise InvariantViolation(f"codec round trip changed {flight.message!r:.200} into {message!r:.200}")
        self._world.nodes[dst].on_frame(conn, message)
        self._schedule_pump(conn, dst)
