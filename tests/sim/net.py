"""SimNet: TCP-like connections between the master and each secondary.

Why connections and not datagrams: replication rides one ordered WebSocket per secondary, so
the sim must model what TCP promises and what it does not.
- A connection has an id; frames in one direction arrive in order, each after a seeded delay.
- A reset discards every frame in flight and tells both ends (each after its own small delay,
  so one end may dial again before the other has noticed). Frames are queued per connection,
  so a frame of an old connection can never reach a new one.
- A graceful close delivers what the closing side already sent, then tears the connection down.
- Faults: partitions (frames held, dials time out), clogging one direction of one link (frames
  held until unclogged, in order), and delay spikes.

Every frame goes through `replog.wire.codec`: the sender encodes, the receiver decodes and the
net checks that the round trip gave back the message that was sent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from replog.core.messages import Message
from replog.errors import ProtocolError
from replog.wire import codec

from .invariants import InvariantViolation

if TYPE_CHECKING:
    from .world import World

__all__ = ["DIRECTIONS", "TO_MASTER", "TO_SECONDARY", "Connection", "SimNet"]

TO_SECONDARY = "m>s"
TO_MASTER = "s>m"
DIRECTIONS = (TO_SECONDARY, TO_MASTER)

_FIN = None  # Marks a graceful close in a direction's queue.


@dataclass(slots=True)
class _Flight:
    due_ms: int
    frame: bytes | None
    message: Message | None


@dataclass(slots=True)
class Connection:
    conn_id: int
    peer: int
    alive: bool = True
    queues: dict[str, deque[_Flight]] = field(default_factory=lambda: {d: deque() for d in DIRECTIONS})
    last_due_ms: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, 0))
    pumping: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, False))
    fin_sent: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, False))


class SimNet:
    def __init__(self, world: World) -> None:
        self._world = world
        self._conns: dict[int, Connection] = {}
        self._next_id = 1
        self.partitioned: set[int] = set()
        self.clogged: set[tuple[int, str]] = set()
        self._spikes: dict[int, tuple[int, int]] = {}  # peer -> (until_ms, extra_ms)
        self.frames_sent = 0

    # ----------------------------------------------------------------- queries

    def reachable(self, peer: int) -> bool:
        return peer not in self.partitioned

    def live(self, peer: int | None = None) -> list[Connection]:
        return [c for c in self._conns.values() if peer is None or c.peer == peer]

    def in_flight(self, conn_id: int, direction: str) -> int:
        conn = self._conns.get(conn_id)
        return 0 if conn is None else len(conn.queues[direction])

    # --------------------------------------------------------------- lifecycle

    def open(self, peer: int) -> int:
        conn_id = self._next_id
        self._next_id += 1
        self._conns[conn_id] = Connection(conn_id, peer)
        return conn_id

    def send(self, conn_id: int, direction: str, message: Message) -> None:
        """Queue one frame; silently lost if the connection is gone (the shells do the same)."""
        conn = self._conns.get(conn_id)
        if conn is None or conn.fin_sent[direction]:
            return
        self.frames_sent += 1
        self._queue(conn, direction, _Flight(0, codec.encode(message), message))

    def close(self, conn_id: int, direction: str) -> None:
        """Graceful close by the sender of `direction`: what it sent still arrives, then teardown."""
        conn = self._conns.get(conn_id)
        if conn is None or conn.fin_sent[direction]:
            return
        conn.fin_sent[direction] = True
        self._queue(conn, direction, _Flight(0, _FIN, None))

    def reset(self, conn_id: int, reason: str) -> None:
        """Abrupt: frames in flight are lost; both ends hear of it, each after its own delay."""
        conn = self._conns.pop(conn_id, None)
        if conn is None:
            return
        conn.alive = False
        world = self._world
        world.note("net", f"reset #{conn_id} (s{conn.peer}): {reason}")
        world.schedule(world.rng.randint(0, 3), "master hears reset", world.master.on_closed, conn_id, conn.peer)
        world.schedule(
            world.rng.randint(0, 20), "secondary hears reset", world.secondaries[conn.peer].on_closed, conn_id
        )

    # ------------------------------------------------------------------ faults

    def partition(self, peer: int) -> None:
        self.partitioned.add(peer)

    def heal(self, peer: int) -> None:
        self.partitioned.discard(peer)
        self._unblocked(peer)

    def clog(self, peer: int, direction: str) -> None:
        self.clogged.add((peer, direction))

    def unclog(self, peer: int, direction: str) -> None:
        self.clogged.discard((peer, direction))
        self._unblocked(peer)

    def spike(self, peer: int, extra_ms: int, duration_ms: int) -> None:
        self._spikes[peer] = (self._world.now_ms + duration_ms, extra_ms)

    def heal_all(self) -> None:
        self.partitioned.clear()
        self.clogged.clear()
        self._spikes.clear()
        for peer in sorted({c.peer for c in self._conns.values()}):
            self._unblocked(peer)

    # ----------------------------------------------------------------- helpers

    def _delay_ms(self, peer: int) -> int:
        low, high = self._world.config.net_delay_ms
        delay = self._world.rng.randint(low, high)
        until_ms, extra_ms = self._spikes.get(peer, (0, 0))
        if self._world.now_ms < until_ms:
            delay += self._world.rng.randint(extra_ms // 2, extra_ms)
        return delay

    def _blocked(self, peer: int, direction: str) -> bool:
        return peer in self.partitioned or (peer, direction) in self.clogged

    def _queue(self, conn: Connection, direction: str, flight: _Flight) -> None:
        # In order: a frame never overtakes the one queued before it.
        flight.due_ms = max(self._world.now_ms + self._delay_ms(conn.peer), conn.last_due_ms[direction])
        conn.last_due_ms[direction] = flight.due_ms
        conn.queues[direction].append(flight)
        self._schedule_pump(conn, direction)

    def _unblocked(self, peer: int) -> None:
        for conn in self.live(peer):
            for direction in DIRECTIONS:
                self._schedule_pump(conn, direction)

    def _schedule_pump(self, conn: Connection, direction: str) -> None:
        queue = conn.queues[direction]
        if conn.pumping[direction] or not queue or self._blocked(conn.peer, direction):
            return
        conn.pumping[direction] = True
        delay = max(0, queue[0].due_ms - self._world.now_ms)
        self._world.schedule(delay, f"deliver {direction} #{conn.conn_id}", self._pump, conn, direction)

    def _pump(self, conn: Connection, direction: str) -> None:
        """Deliver the head frame of one direction (one frame per event, so invariants run between)."""
        conn.pumping[direction] = False
        if not conn.alive or self._blocked(conn.peer, direction):
            return
        flight = conn.queues[direction].popleft()
        if flight.frame is _FIN:
            self._teardown(conn, direction)
            return
        self._deliver(conn, direction, flight)
        self._schedule_pump(conn, direction)

    def _deliver(self, conn: Connection, direction: str, flight: _Flight) -> None:
        assert flight.frame is not None
        try:
            message = codec.decode(flight.frame)
        except ProtocolError as exc:
            raise InvariantViolation(f"codec: a frame we encoded does not decode: {exc}") from None
        if message != flight.message:
            raise InvariantViolation(f"codec round trip changed {flight.message!r:.200} into {message!r:.200}")
        world = self._world
        if direction == TO_SECONDARY:
            world.secondaries[conn.peer].on_message(conn.conn_id, message)
        else:
            world.master.on_message(conn.conn_id, conn.peer, message)

    def _teardown(self, conn: Connection, direction: str) -> None:
        """The FIN arrived: the receiver learns now, the closer a moment later."""
        self._conns.pop(conn.conn_id, None)
        conn.alive = False
        world = self._world
        master_delay, secondary_delay = (0, world.rng.randint(0, 3))
        if direction == TO_SECONDARY:
            master_delay, secondary_delay = secondary_delay, master_delay
        world.schedule(master_delay, "master hears close", world.master.on_closed, conn.conn_id, conn.peer)
        world.schedule(secondary_delay, "secondary hears close", world.secondaries[conn.peer].on_closed, conn.conn_id)
