"""SimSecondary: the secondary's shell in the simulator, driving a `Follower` like `node/secondary.py`.

- One master connection at a time; a new one replaces the old.
- Before `Follower.on_connected` (which sends the Hello) everything appended must be synced, so
  an accepted connection waits for the disk's group commit to go idle.
- Persist goes to the SimCommitter (queued, written, fsynced); `on_synced` may emit an Ack, and
  a failed write calls `Follower.persist_failed`, which drops the link.
- Acks leave through a per-connection acker, like `_send_acks`: cumulative acks queued during
  the injected delay are coalesced, and the FaultPlan may drop the link instead of acking
  ("error after append": the entries are stored, the ack is never sent).
- A crash loses the disk's unsynced tail; the restarted Follower starts from the synced log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from replog.core.follower import Follower
from replog.core.messages import Ack, Message
from replog.core.outputs import Disconnect, Persist, Send, SetLogId
from replog.errors import StorageError
from replog.faults import FaultPlan

from .disk import SimCommitter, SimDisk
from .master import reason_kind
from .net import TO_MASTER

if TYPE_CHECKING:
    from .world import World

__all__ = ["FollowerFactory", "SimSecondary"]

FollowerFactory = Callable[..., Follower]


@dataclass(slots=True)
class _Acker:
    conn: int
    queued: list[int] = field(default_factory=list)
    busy: bool = False
    stopped: bool = False


class SimSecondary:
    def __init__(self, world: World, node_id: int, follower_cls: FollowerFactory) -> None:
        self._world = world
        self.node_id = node_id
        self.name = f"s{node_id}"
        self._follower_cls = follower_cls
        self.disk = SimDisk(world, self.name)
        self.committer = SimCommitter(world, self.disk, self._on_synced, self._on_write_failed, self._hello_when_synced)
        self.follower: Follower | None = None
        self.incarnation = 0
        self.conn: int | None = None
        self.pending_conn: int | None = None  # Accepted, waiting for the disk to be synced.
        self.faults = FaultPlan()
        self._acker: _Acker | None = None

    @property
    def up(self) -> bool:
        return self.follower is not None

    # --------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self.up:
            return
        world = self._world
        self.incarnation += 1
        self.follower = self._follower_cls(self.node_id, log_id=self.disk.log_id, synced_index=self.disk.synced_index)
        world.note(self.name, f"start #{self.incarnation}: log 1..{self.disk.synced_index}")
        # Like SecondaryNode._announce (POST /join): the master dials now instead of after its backoff.
        world.schedule(world.rng.randint(1, 10), f"{self.name} announces itself", self._announce, self.incarnation)

    def crash(self) -> None:
        if not self.up:
            return
        world = self._world
        world.stats["secondary crashes"] += 1
        world.note(self.name, f"CRASH: loses {self.disk.last_index - self.disk.synced_index} unsynced entries")
        self.follower = None
        self.incarnation += 1
        self.committer.crash()
        self.disk.crash()
        for conn in (self.conn, self.pending_conn):
            if conn is not None:
                world.net.reset(conn, f"{self.name} crashed")
        self.conn = self.pending_conn = None
        self._acker = None
        world.checker.after_crash()

    # ---------------------------------------------------------- connections

    def accept(self, conn_id: int) -> None:
        """The master dialled us; the Hello waits until everything appended is synced."""
        world = self._world
        for old in (self.conn, self.pending_conn):
            if old is not None:
                world.note(self.name, f"connection #{conn_id} replaces #{old}")
                self._close(old)
        self.pending_conn = conn_id
        self._hello_when_synced()

    def on_message(self, conn_id: int, message: Message) -> None:
        if self.follower is None or conn_id != self.conn:
            return
        self._world.record(f"{self.name} <- master", message)
        self.follower.on_message(message)
        self._drain()

    def on_closed(self, conn_id: int) -> None:
        if self.follower is not None:
            self._lost(conn_id)

    # ----------------------------------------------------------------- helpers

    def _lost(self, conn_id: int) -> None:
        if conn_id == self.pending_conn:
            self.pending_conn = None
        if conn_id == self.conn and self.follower is not None:
            self.conn = None
            self._acker = None
            self.follower.on_disconnected()

    def _close(self, conn_id: int) -> None:
        """We close: the peer hears it after what we sent; we stop reading at once, as the shell does."""
        self._world.net.close(conn_id, TO_MASTER)
        self._lost(conn_id)

    def _announce(self, incarnation: int) -> None:
        if incarnation == self.incarnation and self._world.net.reachable(self.node_id):
            self._world.master.wake(self.node_id)

    def _hello_when_synced(self) -> None:
        if self.pending_conn is None or self.follower is None:
            return
        if not self.committer.idle:
            return  # The committer calls us again once everything queued is written and synced.
        self.conn, self.pending_conn = self.pending_conn, None
        self._acker = _Acker(self.conn)
        self.follower.on_connected()
        self._drain()

    def _on_synced(self, index: int) -> None:
        if self.follower is None:
            return
        self.follower.on_synced(index)
        self._drain()

    def _on_write_failed(self, written_index: int, error: StorageError) -> None:
        if self.follower is None:
            return
        self.follower.persist_failed(written_index)
        self._drain()

    def _drain(self) -> None:
        assert self.follower is not None
        world = self._world
        for output in self.follower.take_outputs():
            world.note(f"{self.name} out", output)
            match output:
                case Persist(entries):
                    self.committer.append(entries)
                case Send(_, Ack(contiguous_index=index)):
                    self._queue_ack(index)
                case Send(_, message):
                    if self.conn is not None:
                        world.net.send(self.conn, TO_MASTER, message)
                case Disconnect(_, reason):
                    world.stats[f"secondary disconnects: {reason_kind(reason)}"] += 1
                    if self.conn is not None:
                        self._close(self.conn)
                case SetLogId(log_id):
                    self.disk.set_log_id(log_id)
                case _:
                    pass

    # -------------------------------------------------------------- the acker

    def _queue_ack(self, index: int) -> None:
        acker = self._acker
        if acker is None or acker.stopped:
            return
        acker.queued.append(index)
        if not acker.busy:
            self._start_ack(acker)

    def _start_ack(self, acker: _Acker) -> None:
        index = acker.queued[-1]  # Acks are cumulative: only the newest matters.
        acker.queued.clear()
        acker.busy = True
        delay = self.faults.ack_delay_ms(self._world.rng)
        self._world.schedule(delay, f"{self.name} sends Ack({index})", self._send_ack, acker, index)

    def _send_ack(self, acker: _Acker, index: int) -> None:
        if acker is not self._acker or acker.stopped:
            return
        acker.busy = False
        if self.faults.fail_after_append(self._world.rng):
            self._world.stats["error_after_append"] += 1
            self._world.note(self.name, f"FAULT error_after_append: stored up to {index}, drops the link")
            self._close(acker.conn)
            return
        self._world.net.send(acker.conn, TO_MASTER, Ack(index))
        if acker.queued:
            self._start_ack(acker)
