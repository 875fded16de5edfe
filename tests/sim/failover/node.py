"""SimNode: one failover node's shell, hosting an `Election` and at most one replication role.

It wires the pure cores the way the failover node shell is specified to (DESIGN §9):
- Election outputs are applied in order: `PersistHardState` is durable at once (the sim's meta.json),
  `SendVote` is a lossy datagram, `BecameLeader` builds a `Leader` once the store is fully synced,
  any other `Became*` steps a running `Leader` down (its waiters hear "unknown").
- The leader dials every other node; the dial carries (term, leader id). The dialled node refuses a
  stale term with `Error(STALE_TERM)`, else it records the contact with its Election first and then
  runs a fresh `Follower` on that connection, the newest connection replacing the old one.
- Every Welcome/Append/Heartbeat goes through `on_leader_contact` before the Follower sees it.
- `Truncate` writes the dropped entries to the node's rollback record before cutting the log.
Everything that must survive a crash lives on `SimDisk` (log, hard state) or in `rollback`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from replog.core.dedup import recent_request_ids
from replog.core.election import Election, ElectionConfig, HardState, LogPosition, Role
from replog.core.follower import Follower
from replog.core.leader import Leader, Proposal, Term
from replog.core.messages import STALE_TERM, Ack, Append, Error, Heartbeat, Message, Welcome
from replog.core.outputs import (
    BecameLeader,
    Disconnect,
    HealthChanged,
    HigherTerm,
    Persist,
    PersistHardState,
    Reject,
    Release,
    Send,
    SendVote,
    SetLogId,
    Truncate,
)
from replog.core.vote_messages import VoteMessage
from replog.errors import InvalidRequest, NotEnoughReplicas, Overloaded, ReadOnly, StorageError
from replog.net.backoff import delay_ms
from replog.types import Entry

from ..disk import SimCommitter, SimDisk
from ..invariants import InvariantViolation
from ..master import reason_kind

if TYPE_CHECKING:
    from .net import Conn
    from .world import FailoverWorld, Request

__all__ = ["SimNode"]


@dataclass(slots=True)
class Link:
    """The leader's side of its connection to one peer (PeerLink's fields)."""

    conn: Conn | None = None
    waiting: bool = False
    attempt: int = 0
    heard: bool = False
    epoch: int = 0  # Bumped on every dial or retry, so a stale timer does nothing.


@dataclass(slots=True)
class Waiting:
    request: Request
    proposal: Proposal


class SimNode:
    def __init__(self, world: FailoverWorld, node_id: int) -> None:
        self.world = world
        self.id = node_id
        self.name = f"n{node_id}"
        self.peers = tuple(p for p in range(world.config.nodes) if p != node_id)
        # Every node is configured with the cluster's log id (see the report: a fresh follower that
        # wins before it ever adopted one would otherwise lead an unnamed log).
        self.disk = SimDisk(world, self.name, log_id=f"log-{world.seed}")
        self.committer = SimCommitter(
            world, self.disk, self._on_synced, self._on_write_failed, self._on_idle, on_written=self._on_written
        )
        self.rollback: list[Entry] = []  # The rollback files: fsynced before the truncation, so durable.
        self.election: Election | None = None
        self.incarnation = 0
        # Leader role.
        self.leader: Leader | None = None
        self.lead_term: int | None = None  # BecameLeader applied; the Leader waits for the store to sync.
        self.lead_epoch = 0  # Bumped whenever leadership starts or ends: old dials and ticks do nothing.
        self.links: dict[int, Link] = {}
        self.noop_index = 0  # Where this term's no-op went: entries below it are older terms'.
        self.waiting: dict[int, Waiting] = {}
        self._stepping_down = False
        # Follower role.
        self.follower: Follower | None = None
        self.conn: Conn | None = None
        self.pending_conn: Conn | None = None
        # A fault: the node's timers stall (a blocked event loop) while frames and clients are still
        # served. A leader then neither heartbeats nor checks its quorum, so it outlives its term.
        self.ticks_stalled_until_ms = 0
        self.touched = True  # Set whenever a core may have changed: the checker re-reads this node then.

    @property
    def up(self) -> bool:
        return self.election is not None

    @property
    def commit_index(self) -> int:
        """What committed reads show right now: the running core's commit index (0 without one)."""
        if self.leader is not None:
            return self.leader.commit_index
        if self.follower is not None:
            return self.follower.commit_index
        return 0

    def __str__(self) -> str:
        e = self.election
        role = "down" if e is None else f"{e.role.value} t{e.term} leader={e.leader_id}"
        return f"{self.name}({role}, log 1..{self.disk.last_index} synced {self.disk.synced_index})"

    # --------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self.up:
            return
        world = self.world
        self.incarnation += 1
        disk = self.disk
        self.election = world.election_cls(
            ElectionConfig(self.id, world.config.nodes, 0, world.config.election_timeout_ms),
            hard_state=HardState(*disk.hard_state),
            log_position=lambda: LogPosition(disk.term_at(disk.synced_index), disk.synced_index),
            rng=random.Random(world.rng.getrandbits(32)),
            now_ms=world.now_ms,
        )
        self.touched = True
        world.note(self.name, f"start #{self.incarnation}: {self}")
        world.schedule(world.rng.randint(0, world.config.tick_ms), f"{self.name} tick", self._tick, self.incarnation)

    def crash(self) -> None:
        if not self.up:
            return
        world = self.world
        world.note(self.name, f"CRASH: loses {self.disk.last_index - self.disk.synced_index} unsynced entries")
        world.stats["crashes"] += 1
        if self.leader is not None or self.lead_term is not None:
            world.stats["leader crashes"] += 1
        if self.leader is not None:
            # Entries of this term that a follower synced beyond our own synced log: this crash loses them here.
            term, mine = self.leader.term, self.disk.synced_index
            if any(n.disk.synced_index > mine and n.disk.term_at(n.disk.synced_index) == term for n in world.nodes):
                world.stats["leader crashes behind a follower"] += 1
        self.election = None
        self.incarnation += 1
        self.lead_epoch += 1
        self.leader = None
        self.lead_term = None
        for link in self.links.values():
            if link.conn is not None:
                world.net.reset(link.conn, f"{self.name} crashed")
        self.links = {}
        for conn in (self.conn, self.pending_conn):
            if conn is not None:
                world.net.reset(conn, f"{self.name} crashed")
        self.conn = self.pending_conn = None
        self.follower = None
        self.committer.crash()
        self.disk.crash()
        waiting, self.waiting = self.waiting, {}
        for item in waiting.values():
            world.answer(item.request, "unknown", reason=f"{self.name} crashed while the client waited")
        self.touched = True
        world.checker.after_crash(self)

    def _tick(self, incarnation: int) -> None:
        if incarnation != self.incarnation or self.election is None:
            return
        world = self.world
        if world.now_ms >= self.ticks_stalled_until_ms:
            self.election.tick(world.now_ms)
            self._apply_election()
            if self.leader is not None:
                self.leader.tick(world.now_ms)
                self._drain_leader()
        world.schedule(world.config.tick_ms, f"{self.name} tick", self._tick, incarnation)

    # ---------------------------------------------------------------- election

    def on_vote(self, message: VoteMessage) -> None:
        if self.election is None:
            return
        self.world.note(f"{self.name} <- vote", message)
        self.election.on_message(message, self.world.now_ms)
        self._apply_election()

    def _apply_election(self) -> None:
        """Apply the election's outputs in order (a hard state before the messages that need it)."""
        election = self.election
        assert election is not None
        world = self.world
        for output in election.take_outputs():
            world.note(f"{self.name} election", output)
            match output:
                case PersistHardState(term, voted_for):
                    world.checker.on_hard_state(self, term, voted_for)
                    self.disk.set_hard_state(term, voted_for)
                case SendVote(peer, message):
                    world.net.datagram(self.id, peer, message)
                case BecameLeader(term):
                    world.checker.on_became_leader(self, term)
                    self._drop_follower("became leader")
                    self.lead_term = term
                    self._lead_when_synced()
                case _:
                    self._stop_leading("leadership lost")
        world.checker.on_term(self)

    # ------------------------------------------------------------- leader role

    def _lead_when_synced(self) -> None:
        """Build the Leader once everything appended is synced (its log must be durable)."""
        election = self.election
        if self.lead_term is None or self.leader is not None or election is None or not self.committer.idle:
            return
        if election.role is not Role.LEADER or election.term != self.lead_term:
            self.lead_term = None
            return
        world = self.world
        disk = self.disk
        config = world.config
        self.lead_epoch += 1
        self.leader = world.leader_cls(
            self.peers,
            log_id=disk.log_id,
            last_index=disk.last_index,
            limits=world.limits,
            read_entries=disk.read_for_follower,
            now_ms=world.now_ms,
            recent_request_ids=recent_request_ids(disk.read, disk.last_index, config.request_id_window),
            term=Term(self.lead_term, self.id, failover=True, epochs=disk.epochs),
        )
        world.stats["leaders"] += 1
        world.note(self.name, f"LEADS term {self.lead_term}: {self}")
        self.noop_index = disk.last_index + 1
        world.checker.on_leader_built(self)
        world.chaos.on_new_leader(self)
        self.follower = None  # Its commit index belonged to a connection that is gone.
        self.links = {peer: Link() for peer in self.peers}
        self._drain_leader()
        for peer in self.peers:
            self._dial(peer)

    def _stop_leading(self, reason: str) -> None:
        self.lead_term = None
        leader = self.leader
        if leader is None:
            return
        world = self.world
        world.note(self.name, f"steps down: {reason}")
        world.stats["step downs"] += 1
        self.leader = None
        self.lead_epoch += 1
        self.touched = True
        leader.step_down(reason)
        for output in leader.take_outputs():
            if isinstance(output, Reject | Release):
                self._answer_waiter(output, unknown=True)
        for link in self.links.values():
            if link.conn is not None:
                world.net.reset(link.conn, f"{self.name} stepped down")
        self.links = {}
        if self.waiting:
            raise InvariantViolation(f"{self.name} stepped down with {len(self.waiting)} clients still parked")

    def _dial(self, peer: int) -> None:
        link = self.links[peer]
        link.waiting = False
        link.epoch += 1
        world = self.world
        assert self.leader is not None
        world.dial(self, peer, self.leader.term, (self.lead_epoch, link.epoch))

    def on_dial_result(self, peer: int, token: tuple[int, int], conn: Conn | None) -> None:
        world = self.world
        link = self.links.get(peer)
        if self.leader is None or link is None or token != (self.lead_epoch, link.epoch):
            if conn is not None:
                world.net.reset(conn, "dialled by a leadership that has since ended")
            return
        if conn is None:
            self._retry_later(peer, healthy_session=False)
            return
        link.conn = conn
        link.heard = False
        self.leader.on_connected(peer, world.now_ms)
        self._drain_leader()

    def _retry_later(self, peer: int, *, healthy_session: bool) -> None:
        world = self.world
        link = self.links[peer]
        link.attempt = 0 if healthy_session else link.attempt + 1
        config = world.config
        delay = delay_ms(
            max(link.attempt - 1, 0), world.rng, base_ms=config.backoff_base_ms, cap_ms=config.backoff_max_ms
        )
        link.waiting = True
        link.epoch += 1
        world.schedule(delay, f"{self.name} redials n{peer}", self._on_retry, peer, (self.lead_epoch, link.epoch))

    def _on_retry(self, peer: int, token: tuple[int, int]) -> None:
        link = self.links.get(peer)
        if link is not None and link.waiting and token == (self.lead_epoch, link.epoch):
            self._dial(peer)

    def _drain_leader(self) -> None:
        """Act on the Leader's outputs in order; a HigherTerm goes to the election after the drain."""
        leader = self.leader
        assert leader is not None
        world = self.world
        self.touched = True
        higher = 0
        while leader is self.leader and (outputs := leader.take_outputs()):
            for output in outputs:
                world.note(f"{self.name} leader", output)
                match output:
                    case Persist(entries):
                        self.committer.append(entries)
                    case Send(peer, message):
                        link = self.links.get(peer)
                        if link is not None and link.conn is not None:
                            world.net.send(link.conn, self.id, message)
                    case Disconnect(peer, reason):
                        world.stats[f"leader disconnects: {reason_kind(reason)}"] += 1
                        link = self.links.get(peer)
                        if link is not None and link.conn is not None:
                            world.close(link.conn, self.id, reason)
                    case Release() | Reject():
                        self._answer_waiter(output, unknown=False)
                    case HigherTerm(term):
                        higher = max(higher, term)
                    case HealthChanged(_, _, new):
                        world.stats[f"peer {new.value}"] += 1
                    case _:
                        pass
        if higher and self.election is not None:
            world.stats["higher term seen by a leader"] += 1
            self.election.observe_term(higher, world.now_ms)
            self._apply_election()

    def _answer_waiter(self, output: Release | Reject, *, unknown: bool) -> None:
        world = self.world
        item = self.waiting.pop(output.token, None)
        if item is None:
            raise InvariantViolation(f"{output} for a token nobody waits on")
        match output:
            case Release(_, index):
                world.checker.on_release(self, item.request, item.proposal, index)
                world.answer(
                    item.request,
                    "ok",
                    index=index,
                    first_index=item.proposal.first_index,
                    duplicate=item.proposal.duplicate,
                )
            case Reject(_, reason):
                # A Reject on step-down is an unknown outcome: the entry may or may not survive.
                world.answer(item.request, "unknown" if unknown else "refused", reason=reason)

    # ------------------------------------------------------------ client side

    def submit(self, request: Request) -> None:
        world = self.world
        if self.election is None:
            world.answer(request, "refused", reason="connection refused")
            return
        leader = self.leader
        if leader is None:
            world.answer(request, "refused", reason="not leader", hint=self.election.leader_id)
            return
        try:
            proposal = leader.propose(request.payloads, request.w, request.request_id)
        except (ReadOnly, NotEnoughReplicas, Overloaded) as exc:
            world.stats[f"refused: {type(exc).__name__}"] += 1
            world.answer(request, "refused", reason=str(exc))
            return
        except InvalidRequest as exc:  # A batch a failover cut: final, not worth a retry.
            world.stats["failed: batch cut by a failover"] += 1
            world.answer(request, "failed", reason=str(exc))
            return
        world.note(self.name, f"propose {request} -> {proposal}")
        world.checker.on_proposal(self, request, proposal)
        world.stats["duplicate proposals" if proposal.duplicate else "proposals"] += 1
        self.waiting[proposal.token] = Waiting(request, proposal)
        self._drain_leader()

    # ----------------------------------------------------------- follower role

    def accept(self, conn: Conn, term: int, leader_id: int) -> None:
        """A leader dialled us: refuse a stale term, else follow it on this connection."""
        world = self.world
        election = self.election
        assert election is not None
        if term < election.term:
            world.stats["dials refused: stale term"] += 1
            world.net.send(conn, self.id, Error(STALE_TERM, f"we are in term {election.term}", term=election.term))
            world.close(conn, self.id, "stale term")
            return
        election.on_leader_contact(term, leader_id, world.now_ms)
        self._apply_election()
        self._drop_follower(f"connection #{conn.conn_id} replaces it")
        self.pending_conn = conn
        self._hello_when_synced()

    def _drop_follower(self, reason: str) -> None:
        for conn in (self.conn, self.pending_conn):
            if conn is not None:
                self.world.close(conn, self.id, reason)
        self.conn = self.pending_conn = None
        if self.follower is not None:
            self.follower.on_disconnected()
            self.touched = True

    def _hello_when_synced(self) -> None:
        if self.pending_conn is None or self.election is None or not self.committer.idle:
            return  # The committer calls _on_idle once everything queued is written and synced.
        disk = self.disk
        self.conn, self.pending_conn = self.pending_conn, None
        self.follower = self.world.follower_cls(
            self.id, log_id=disk.log_id, synced_index=disk.synced_index, last_term=disk.term_at(disk.synced_index)
        )
        self.follower.on_connected(term=self.election.term, epochs=disk.epochs())
        self._drain_follower()

    def on_frame(self, conn: Conn, message: Message) -> None:
        if self.election is None:
            return
        if conn.acceptor == self.id:
            self._on_leader_frame(conn, message)
        else:
            self._on_follower_frame(conn, message)

    def _on_leader_frame(self, conn: Conn, message: Message) -> None:
        world = self.world
        election = self.election
        if conn is not self.conn or self.follower is None or election is None:
            return
        world.record(f"{self.name} <- n{conn.dialer}", message)
        if isinstance(message, Welcome | Append | Heartbeat):
            current = election.on_leader_contact(message.term, conn.dialer, world.now_ms)
            self._apply_election()
            if not current:
                world.stats["frames refused: stale term"] += 1
                world.net.send(conn, self.id, Error(STALE_TERM, f"we are in term {election.term}", term=election.term))
                self._drop_follower("stale leader")
                return
        if conn is self.conn:
            self.follower.on_message(message)
            self._drain_follower()

    def _on_follower_frame(self, conn: Conn, message: Message) -> None:
        world = self.world
        link = self.links.get(conn.acceptor)
        if self.leader is None or self.election is None or link is None or link.conn is not conn:
            return
        world.record(f"{self.name} <- n{conn.acceptor}", message)
        link.heard = True
        self.election.on_follower_contact(conn.acceptor, world.now_ms)
        self.leader.on_message(conn.acceptor, message, world.now_ms)
        if isinstance(message, Ack) and 0 < message.contiguous_index < self.noop_index:
            world.chaos.on_catch_up_ack(self)
        if isinstance(message, Ack) and message.contiguous_index > self.disk.synced_index:
            world.stats["acks ahead of the leader's disk"] += 1
            world.chaos.on_follower_ahead(self)
        self._drain_leader()

    def on_closed(self, conn: Conn) -> None:
        if self.election is None:
            return
        if conn is self.pending_conn:
            self.pending_conn = None
        if conn is self.conn:
            self.conn = None
            if self.follower is not None:
                self.follower.on_disconnected()
                self.touched = True
            # As the real Following does: the leader's stream closed, so stop counting on its lease.
            self.election.on_leader_lost(conn.dialer, self.world.now_ms)
            self._apply_election()
        link = self.links.get(conn.acceptor) if conn.dialer == self.id else None
        if link is not None and link.conn is conn and self.leader is not None:
            link.conn = None
            self.leader.on_disconnected(conn.acceptor, self.world.now_ms)
            self._drain_leader()
            if self.leader is not None:
                self._retry_later(conn.acceptor, healthy_session=link.heard)

    def _drain_follower(self) -> None:
        follower = self.follower
        assert follower is not None
        world = self.world
        self.touched = True
        for output in follower.take_outputs():
            world.note(f"{self.name} follower", output)
            match output:
                case Persist(entries):
                    self.committer.append(entries)
                case Send(_, message):
                    if self.conn is not None:
                        world.net.send(self.conn, self.id, message)
                case Disconnect(_, reason):
                    world.stats[f"follower disconnects: {reason_kind(reason)}"] += 1
                    self._drop_follower(reason)
                case Truncate(after):
                    self.truncate(after)
                case SetLogId(log_id):
                    self.disk.set_log_id(log_id)
                case _:
                    pass

    def truncate(self, after: int) -> None:
        """Roll back the entries after `after`: into the rollback record first, then off the log."""
        dropped = self.disk.entries(after + 1)
        world = self.world
        world.note(self.name, f"TRUNCATE after {after}: rolls back {len(dropped)} entries")
        world.checker.on_truncate(self, after, dropped)
        self.write_rollback(dropped)
        self.disk.truncate_after(after)
        self.disk.version += 1
        world.stats["truncations"] += 1
        world.stats["entries rolled back"] += len(dropped)

    def write_rollback(self, entries: list[Entry]) -> None:
        self.rollback.extend(entries)

    # ----------------------------------------------------------------- disk

    def _on_written(self, index: int) -> None:
        if self.leader is not None:
            self.leader.on_written(index)  # It sends them now; its own copy counts once synced.
            self._drain_leader()

    def _on_synced(self, index: int) -> None:
        if self.leader is not None:
            self.leader.on_synced(index)
            self._drain_leader()
        elif self.follower is not None and self.follower.appended_index >= index:
            self.follower.on_synced(index)
            self._drain_follower()

    def _on_idle(self) -> None:
        self._lead_when_synced()
        self._hello_when_synced()

    def _on_write_failed(self, written_index: int, error: StorageError) -> None:
        raise InvariantViolation(f"{self.name}: write failed ({error}); this sim injects no disk-full faults")
