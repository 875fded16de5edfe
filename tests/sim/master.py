"""SimMaster: the master's shell in the simulator, driving a `Leader` like `node/master.py` does.

After every input the outputs are drained in order: Persist goes to the SimCommitter (queued,
then written and fsynced: `on_synced`, or `abort_unwritten` when the write fails), Send goes
out on the peer's current connection, Disconnect closes it, Release and Reject answer the
waiting client. Each link to a secondary
dials with `replog.net.backoff.delay_ms` like `net/peer_link.py`: the attempt counter resets
after a session that heard at least one frame. A crash loses the disk's unsynced tail and every
waiting client learns only that the outcome is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from replog.core.dedup import recent_request_ids as rebuild_request_ids
from replog.core.health import HealthThresholds
from replog.core.leader import Leader, LeaderLimits, Proposal
from replog.core.messages import Message
from replog.core.outputs import CatchUp, Disconnect, HealthChanged, Persist, Reject, Release, Send
from replog.core.progress import LinkMode
from replog.errors import NotEnoughReplicas, Overloaded, ReadOnly, StorageError
from replog.net.backoff import delay_ms
from replog.storage.base import LogStore

from .disk import SimCommitter, SimDisk
from .invariants import InvariantViolation
from .net import TO_SECONDARY

if TYPE_CHECKING:
    from .workload import ClientRequest
    from .world import World

__all__ = [
    "LeaderFactory",
    "LinkState",
    "Outcome",
    "RequestIdRecovery",
    "SimMaster",
    "reason_kind",
    "recent_request_ids",
]

LeaderFactory = Callable[..., Leader]
RequestIdRecovery = Callable[[LogStore, int], Iterator[tuple[str, int, int]]]


def recent_request_ids(store: LogStore, window: int) -> Iterator[tuple[str, int, int]]:
    """The production rebuild of the dedup window, over the simulated disk."""
    return rebuild_request_ids(store.read, store.last_index, window)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a client hears: ok (with the index), refused (nothing appended) or unknown."""

    kind: str
    index: int = 0
    first_index: int = 0
    duplicate: bool = False
    reason: str = ""


@dataclass(slots=True)
class LinkState:
    """The master's side of one secondary's link, like PeerLink's fields."""

    conn: int | None = None
    dialing: bool = False
    waiting: bool = False
    attempt: int = 0
    heard: bool = False
    heard_ms: int | None = None  # Independent of the core: the invariants compare health with it.
    retry_epoch: int = 0


@dataclass(slots=True)
class Waiting:
    request: ClientRequest
    proposal: Proposal


class SimMaster:
    def __init__(self, world: World, leader_cls: LeaderFactory, recover_request_ids: RequestIdRecovery) -> None:
        self._world = world
        self._leader_cls = leader_cls
        self._recover_request_ids = recover_request_ids
        config = world.config
        self.disk = SimDisk(world, "master", log_id=f"log-{world.seed}")
        self.committer = SimCommitter(world, self.disk, self._on_synced, self._on_write_failed)
        self.leader: Leader | None = None
        self.links = [LinkState() for _ in range(config.secondaries)]
        self.incarnation = 0
        self.waiting: dict[int, Waiting] = {}
        self.leader_now_ms = 0
        self.touched = True  # Set on every call into the Leader: the checker re-reads it then.
        self.limits = LeaderLimits(
            thresholds=HealthThresholds(config.suspect_after_ms, config.unhealthy_after_ms),
            heartbeat_interval_ms=config.heartbeat_interval_ms,
            batch_entries_max=config.batch_entries_max,
            batch_bytes_max=config.batch_bytes_max,
            inflight_frames_max=config.inflight_frames_max,
            request_id_window=config.request_id_window,
            waiters_max=config.waiters_max,
            suspend_on_slaves_dead=config.suspend_on_slaves_dead,
        )

    @property
    def up(self) -> bool:
        return self.leader is not None

    # --------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self.up:
            return
        world = self._world
        self.incarnation += 1
        self.leader_now_ms = world.now_ms
        self.leader = self._leader_cls(
            range(world.config.secondaries),
            log_id=self.disk.log_id,
            last_index=self.disk.last_index,
            limits=self.limits,
            read_entries=self.disk.read_for_follower,
            now_ms=world.now_ms,
            recent_request_ids=self._recover_request_ids(self.disk, self.limits.request_id_window),
        )
        self.touched = True
        world.note("master", f"start #{self.incarnation}: log 1..{self.disk.last_index}")
        for peer in range(len(self.links)):
            self.links[peer] = LinkState()
            self._dial(peer)
        world.schedule(world.config.tick_ms, "master tick", self._tick, self.incarnation)

    def crash(self) -> None:
        if not self.up:
            return
        world = self._world
        world.note("master", f"CRASH: loses {self.disk.last_index - self.disk.synced_index} unsynced entries")
        self.leader = None
        self.touched = True
        self.incarnation += 1
        self.committer.crash()
        self.disk.crash()
        for link in self.links:
            if link.conn is not None:
                world.net.reset(link.conn, "master crashed")
            link.conn = None
        world.stats["master crashes"] += 1
        waiting, self.waiting = self.waiting, {}
        for item in waiting.values():
            item.request.answer(Outcome("unknown", reason="master crashed while the client waited"))
        world.checker.after_crash()

    # ------------------------------------------------------------ client side

    def submit(self, request: ClientRequest) -> None:
        """A client's POST: refused at once, or parked until its Release (or a crash)."""
        leader = self.leader
        if leader is None:
            request.answer(Outcome("refused", reason="connection refused: master down"))
            return
        try:
            proposal = leader.propose(request.payloads, request.w, request.request_id)
        except (ReadOnly, NotEnoughReplicas, Overloaded) as exc:
            self._world.stats[f"refused: {type(exc).__name__}"] += 1
            request.answer(Outcome("refused", reason=str(exc)))
            return
        self._world.note("master", f"propose {request} -> {proposal}")
        self._world.checker.on_proposal(request, proposal)
        self._world.stats["duplicate proposals" if proposal.duplicate else "proposals"] += 1
        self.waiting[proposal.token] = Waiting(request, proposal)
        self._drain()

    # ------------------------------------------------------------- link side

    def on_dial_result(self, peer: int, incarnation: int, conn_id: int | None) -> None:
        world = self._world
        if incarnation != self.incarnation or self.leader is None:
            if conn_id is not None:
                world.net.reset(conn_id, "dialled by a master that has since crashed")
            return
        link = self.links[peer]
        link.dialing = False
        if conn_id is None:
            self._retry_later(peer, healthy_session=False)
            return
        link.conn = conn_id
        link.heard = False
        link.heard_ms = None  # Heard once its Hello is accepted (on_message).
        self.leader_now_ms = world.now_ms
        self.leader.on_connected(peer, world.now_ms)
        self._drain()

    def on_message(self, conn_id: int, peer: int, message: Message) -> None:
        link = self.links[peer]
        if self.leader is None or link.conn != conn_id:
            return
        world = self._world
        world.record(f"master <- s{peer}", message)
        link.heard = True
        self.leader_now_ms = world.now_ms
        self.leader.on_message(peer, message, world.now_ms)
        if any(s.peer == peer and s.mode is LinkMode.STREAM for s in self.leader.peer_status()):  # its Hello accepted
            link.heard_ms = world.now_ms
        self._drain()

    def on_closed(self, conn_id: int, peer: int) -> None:
        link = self.links[peer]
        if self.leader is None or link.conn != conn_id:
            return
        world = self._world
        link.conn = None
        link.heard_ms = None
        self.leader_now_ms = world.now_ms
        self.leader.on_disconnected(peer, world.now_ms)
        self._drain()
        self._retry_later(peer, healthy_session=link.heard)

    def wake(self, peer: int) -> None:
        """The secondary announced itself (POST /join): skip the rest of the backoff wait."""
        if self.leader is not None and self.links[peer].waiting:
            self._dial(peer)

    # ----------------------------------------------------------------- helpers

    def _dial(self, peer: int) -> None:
        link = self.links[peer]
        link.waiting = False
        link.dialing = True
        link.retry_epoch += 1
        self._world.dial(peer, self.incarnation)

    def _retry_later(self, peer: int, *, healthy_session: bool) -> None:
        world = self._world
        link = self.links[peer]
        link.attempt = 0 if healthy_session else link.attempt + 1
        delay = delay_ms(
            max(link.attempt - 1, 0),
            world.rng,
            base_ms=world.config.backoff_base_ms,
            cap_ms=world.config.backoff_max_ms,
        )
        link.waiting = True
        link.retry_epoch += 1
        world.schedule(delay, f"master redials s{peer}", self._on_retry_timer, peer, link.retry_epoch, self.incarnation)

    def _on_retry_timer(self, peer: int, retry_epoch: int, incarnation: int) -> None:
        link = self.links[peer]
        if incarnation == self.incarnation and link.waiting and link.retry_epoch == retry_epoch:
            self._dial(peer)

    def _tick(self, incarnation: int) -> None:
        if incarnation != self.incarnation or self.leader is None:
            return
        world = self._world
        self.leader_now_ms = world.now_ms
        self.leader.tick(world.now_ms)
        self._drain()
        world.checker.after_tick()
        world.schedule(world.config.tick_ms, "master tick", self._tick, incarnation)

    def _on_synced(self, index: int) -> None:
        if self.leader is None:
            return
        self.leader.on_synced(index)
        self._drain()

    def _on_write_failed(self, written_index: int, error: StorageError) -> None:
        """As MasterNode._on_write_failed: the core forgets the unwritten tail and rejects its waiters."""
        if self.leader is None:
            return
        self.leader.abort_unwritten(written_index, str(error))
        self._drain()

    def _drain(self) -> None:
        """Act on every output in order, as MasterNode._flush does."""
        assert self.leader is not None
        self.touched = True
        world = self._world
        for output in self.leader.take_outputs():
            world.note("master out", output)
            match output:
                case Persist(entries):
                    self.committer.append(entries)
                case Send(peer, message):
                    conn = self.links[peer].conn
                    if conn is not None:
                        world.net.send(conn, TO_SECONDARY, message)
                case Disconnect(peer, reason):
                    world.stats[f"master disconnects: {reason_kind(reason)}"] += 1
                    conn = self.links[peer].conn
                    if conn is not None:
                        world.net.close(conn, TO_SECONDARY)
                case Release(token, index):
                    item = self.waiting.pop(token, None)
                    if item is None:
                        raise InvariantViolation(f"Release({token}, {index}) for a token nobody waits on")
                    world.checker.on_release(item.request, item.proposal, index)
                    item.request.answer(
                        Outcome("ok", index, item.proposal.first_index, duplicate=item.proposal.duplicate)
                    )
                case Reject(token, reason):
                    item = self.waiting.pop(token, None)
                    if item is None:
                        raise InvariantViolation(f"Reject({token}) for a token nobody waits on")
                    world.checker.on_reject(item.request, item.proposal)
                    world.stats["rejected: write failed"] += 1
                    item.request.answer(Outcome("refused", reason=reason))
                case HealthChanged(_, _, new):
                    world.stats[f"peer {new.value}"] += 1
                case CatchUp(done=False):
                    world.stats["catch-up"] += 1
                case _:
                    pass


def reason_kind(reason: str) -> str:
    """A reason without its numbers, so the stats group alike events."""
    return re.sub(r"\d+", "N", reason.split(":")[0])
