"""A node with failover on: the election decides its role, and it hosts whichever role that is.

Every node runs the same shell. The pure `Election` owns the term and the role; this shell applies
its outputs in order (the hard state is fsynced in meta.json before any message that depends on it
leaves), carries votes over `POST /vote`, and hosts either a `Leading` (one term of leadership:
the Leader core and its links) or the `Following` side (the current leader's stream into the local
log). One group committer serves both, so a role change never races a write: a new Leader is built
only once everything written is synced.

Node ids are positions in `config.nodes`: the configured master is node 0 and leads whenever it is up
and caught up (it campaigns first at start, and a leader that sees it back hands leadership to it);
secondary N is node N + 1. Appends that reach a follower are forwarded by the HTTP layer to the leader
this node knows; with no leader known they are refused with a 503 that says why.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from replog.config import Config
from replog.core.election import Election, ElectionConfig, HardState, LogPosition, Role
from replog.core.outputs import (
    BecameCandidate,
    BecameFollower,
    BecameLeader,
    BecamePreCandidate,
    ElectionOutput,
    PersistHardState,
    SendVote,
)
from replog.core.vote_messages import VoteMessage, VoteRequest, VoteResponse
from replog.errors import NoLeader, ReadOnly, ReplogError, StorageError, TransferFailed
from replog.faults import FaultPlan
from replog.metrics import NodeMetrics
from replog.net.tls import node_session
from replog.net.vote_client import VoteClient
from replog.node.agreement import first_disagreement
from replog.node.clock import Clock, RealClock
from replog.node.committer import GroupCommitter
from replog.node.following import Following
from replog.node.leader_metrics import CatchUpCounts
from replog.node.leader_reports import Report
from replog.node.leading import Leading
from replog.node.master import AppendResult, WriteConcernTimeout
from replog.node.names import node_name
from replog.node.sampler import Sampler
from replog.samples import NodeState
from replog.storage.base import LogStore, read_synced
from replog.storage.memory import MemoryLog
from replog.types import Entry, HealthState
from replog.web.vote import split_answer

__all__ = ["LeaderInfo", "ReplicaNode"]

log = logging.getLogger("replog.node")

HAND_BACK_AFTER_TIMEOUTS = 5


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    node_id: int
    name: str
    address: str


class ReplicaNode:
    def __init__(
        self, config: Config, node_id: int, store: LogStore, *, node_dir: Path | None, clock: Clock | None = None
    ) -> None:
        self.config = config
        self.id = node_id
        self.name = node_name(node_id)
        self.store = store
        self._clock = clock or RealClock()
        self.instance_id = uuid.uuid4().hex
        self.metrics = NodeMetrics("replica")
        self.sampler = Sampler(self.name, self.metrics.per_second, self._chart_state)
        self._committer = GroupCommitter(
            store,
            self._on_synced,
            self._on_write_failed,
            self.metrics.fsync_seconds.observe,
            on_written=self._on_written,
        )
        timeout_ms = int(config.election_timeout_seconds * 1000)
        self.election = Election(
            ElectionConfig(node_id, len(config.nodes), preferred_id=0, election_timeout_ms=timeout_ms),
            hard_state=HardState(*store.hard_state),
            log_position=self._log_position,
            rng=random.Random(),
            now_ms=self.now_ms(),
        )
        self.faults = FaultPlan.from_settings(config.faults_for(node_id - 1) if node_id else {}, self.now_ms())
        self.following = Following(
            config=config,
            node_id=node_id,
            store=store,
            committer=self._committer,
            node_dir=node_dir,
            leader_contact=self._leader_contact,
            leader_lost=self._leader_lost,
            current_term=lambda: self.election.term,
            faults=lambda: self.faults,
            now_ms=self.now_ms,
        )
        self.leading: Leading | None = None
        self._session: aiohttp.ClientSession | None = None
        self._votes: VoteClient | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._role_change: asyncio.Task[None] | None = None
        self._peer_heard_ms: dict[int, int] = {}
        self.elections_started = 0
        self.leader_changes = 0
        self.catch_up_entries = CatchUpCounts()  # by follower, over every term this node led
        self.fatal: asyncio.Future[str] | None = None  # set at start; resolved with why the node must stop
        self._master_level_since_ms: int | None = None
        self._hand_back: asyncio.Task[None] | None = None
        self._commit_high = 0  # see commit_index
        self._leading_since_ms = 0

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._session = node_session(self.config)
        peers = {peer: address for peer, address in enumerate(self.config.nodes) if peer != self.id}
        self._votes = VoteClient(
            self._session, peers, self.config.cluster_token, self.config.connection_timeout, self.config.scheme
        )
        self._committer.start()
        loop = asyncio.get_running_loop()
        self.fatal = loop.create_future()
        self._tasks.append(loop.create_task(self._ticker(), name="ticker"))
        self._tasks.append(loop.create_task(self._check_peers_agree(), name="cluster-check"))
        self._tasks.append(loop.create_task(self.sampler.run(), name="sampler"))
        self.sampler.note("start", f"{self.name} started", self.name)
        term, voted_for = self.store.hard_state
        log.info(
            "%s up (node %d of %d, failover on): log %r, %d entries, term %d, voted for %s",
            self.name,
            self.id,
            len(self.config.nodes),
            self.store.log_id,
            self.store.last_index,
            term,
            voted_for,
        )

    async def stop(self) -> None:
        await self._hand_over_before_stopping()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for task in (self._role_change, self._hand_back):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.leading is not None:
            await self.leading.stop("no leader: this node is stopping; retry with the same request_id on another node")
        await self.following.close()
        if self._votes is not None:
            await self._votes.close()
        await self._committer.stop()
        if self._session:
            await self._session.close()
        self.store.close()

    def now_ms(self) -> int:
        return self._clock.monotonic_ms()

    @property
    def http_session(self) -> aiohttp.ClientSession:
        """The node's pooled client session (votes, forwarded appends, peer checks); open once started."""
        assert self._session is not None, "the node is not started"
        return self._session

    # ------------------------------------------------------------------ queries

    @property
    def role(self) -> str:
        role = self.election.role
        if role is Role.LEADER:
            return "leader"
        return "candidate" if role is Role.CANDIDATE else "follower"

    @property
    def ready_leader(self) -> Leading | None:
        """The Leading of the current term, once it is built (a new leader first syncs its log)."""
        leading = self.leading
        if leading is not None and self.election.role is Role.LEADER and leading.term == self.election.term:
            return leading
        return None

    def leader(self) -> LeaderInfo | None:
        leader_id = self.election.leader_id
        if leader_id is None:
            return None
        return LeaderInfo(leader_id, node_name(leader_id), self.config.nodes[leader_id])

    @property
    def commit_index(self) -> int:
        """The highest index known committed, never lower than this process showed before.

        The role's own figure goes back on a role change: a new Leader knows nothing committed until an
        entry of its term is (its core starts at 0), and a deposed one falls back to what it last heard
        as a follower. What was committed stays committed and in this log (leader completeness; a
        follower truncates only after the match), so the high-water mark is still true.
        """
        leading = self.ready_leader
        current = leading.core.commit_index if leading else self.following.commit_index
        self._commit_high = max(self._commit_high, current)
        return min(self._commit_high, self.store.synced_index)

    def quorum_needed(self) -> int:
        """A majority of the nodes: what an election, and a leader's writes, need alive."""
        return len(self.config.nodes) // 2 + 1

    def alive(self) -> int:
        """This node plus the peers heard from (votes, a leader's stream, a follower's frames) within 2T."""
        window_ms = 2 * self.config.election_timeout_seconds * 1000
        now = self.now_ms()
        return 1 + sum(now - heard < window_ms for heard in self._peer_heard_ms.values())

    def read_synced(self, start: int, limit: int) -> list[Entry]:
        return read_synced(self.store, start, limit)

    # ------------------------------------------------------------------ appends

    async def append(
        self, payloads: Sequence[bytes], w: int, request_id: str | None = None, timeout_ms: int | None = None
    ) -> AppendResult:
        """Append here if this node leads; raise NoLeader or ReadOnly if it does not (the API forwards)."""
        result, future = self.submit(payloads, w, request_id)
        if timeout_ms is None:
            await future
            return result
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout_ms / 1000)
        except TimeoutError:
            # Nobody awaits it any more: a later failure (a lost leadership) must not be reported as unhandled.
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
            raise WriteConcernTimeout(result, timeout_ms) from None
        return result

    def submit(
        self, payloads: Sequence[bytes], w: int, request_id: str | None = None
    ) -> tuple[AppendResult, asyncio.Future[int]]:
        """Propose now if this node leads (the future resolves once `w` copies exist); else raise."""
        leading = self.ready_leader
        if leading is None:
            raise self.not_leading()
        if self.election.transfer_target is not None:
            # New appends wait out a handover (well under a second): the target must catch up first.
            target = node_name(self.election.transfer_target)
            raise NoLeader(self.election.term, f"leadership transfer to {target} in progress")
        new_term = self.now_ms() - self._leading_since_ms < self.config.election_timeout_seconds * 1000
        if leading.core.read_only and new_term:
            # A new leader's links to its followers are still dialling, so its core counts them down; but a
            # majority has just voted for it: this is no lost quorum. "no leader" makes a client retry shortly
            # (ReadOnly is final for it), by when the links are up.
            raise NoLeader(self.election.term, f"{self.name} took over and is connecting to its followers")
        first, last, duplicate, future = leading.submit(payloads, w, request_id)
        return AppendResult(first, last, w, duplicate), future

    def not_leading(self) -> ReplogError:
        """Why this node takes no append: no quorum, no leader known, or (still a 503 "no leader", which
        clients given several nodes ride out) the leader is another node, named with its URL."""
        alive, needed = self.alive(), self.quorum_needed()
        if alive < needed:
            return ReadOnly(alive, needed, len(self.config.nodes))
        leader = self.leader()
        if leader is not None and leader.node_id != self.id:
            url = self.config.url_of(leader.address)
            return NoLeader(self.election.term, f"not on {self.name}, which follows {leader.name} at {url}")
        return NoLeader(self.election.term)

    # ------------------------------------------------------------ leadership transfer

    async def _hand_over_before_stopping(self) -> None:
        """A leader asked to stop (SIGTERM, Ctrl-C) hands over first: a restart for maintenance then
        costs a pause of milliseconds, not an election, and loses nothing acknowledged."""
        target = self.transfer_candidate()
        if target is None:
            return
        try:
            paused_s = await self.transfer_leadership(target)
            log.info(
                "handed leadership to %s before stopping (appends paused %.0f ms)", node_name(target), paused_s * 1000
            )
        except (TransferFailed, NoLeader, ReadOnly) as exc:
            log.info("stopping without a handover: %s", exc)

    def transfer_candidate(self) -> int | None:
        """The follower to hand leadership to: the most up to date of the Healthy ones."""
        leading = self.ready_leader
        if leading is None:
            return None
        healthy = [s for s in leading.core.peer_status() if s.health is HealthState.HEALTHY]
        return max(healthy, key=lambda s: s.acked_index).peer if healthy else None

    async def transfer_leadership(self, target: int) -> float:
        """Hand leadership to `target` (Raft §3.10); return how long appends were paused, in seconds.

        Appends pause, the target is brought level with our log, then it is told to campaign at once
        (TimeoutNow, which voters grant even while they hear from us). Raises NoLeader if this node
        does not lead, TransferFailed if the target did not take over within the election timeout.
        """
        leading = self.ready_leader
        if leading is None:
            raise self.not_leading()
        started = self.now_ms()
        timeout_ms = self.config.election_timeout_seconds * 1000
        if not self.election.begin_transfer(target, started):
            raise TransferFailed(f"cannot hand leadership to {node_name(target)}")
        log.info("handing leadership of term %d to %s", leading.term, node_name(target))
        while self.election.transfer_target == target and self.now_ms() - started < timeout_ms:
            status = next(s for s in leading.core.peer_status() if s.peer == target)
            if status.acked_index >= leading.core.last_index:
                self.election.send_timeout_now()
                self._apply(self.election.take_outputs())
                break
            await asyncio.sleep(0.005)  # why: acks arrive on the link; a 5 ms poll bounded by the timeout
        while self.election.role is Role.LEADER and self.now_ms() - started < 2 * timeout_ms:
            await asyncio.sleep(0.005)  # why: the new leader's dial or vote ends our term; bounded poll
        if self.election.role is Role.LEADER:
            raise TransferFailed(f"{node_name(target)} did not take over within {2 * timeout_ms:.0f} ms")
        return (self.now_ms() - started) / 1000

    def _hand_back_to_master(self, now_ms: int) -> None:
        """The configured master leads whenever it is up and caught up: once it has been Healthy and
        level with us for a while (HAND_BACK_AFTER_TIMEOUTS election timeouts: long enough that an
        operator who stepped the master down for maintenance can stop it first), the leader hands over."""
        leading = self.ready_leader
        if leading is None or self.id == 0 or self.election.transfer_target is not None:
            self._master_level_since_ms = None
            return
        master = next(s for s in leading.core.peer_status() if s.peer == 0)
        # "Level" allows one batch in flight: under load a live follower is always a frame or so behind,
        # and the transfer itself pauses appends until the master holds everything.
        lag = leading.core.synced_index - master.acked_index
        level = master.health is HealthState.HEALTHY and lag <= self.config.batch_entries_max
        if not level:
            self._master_level_since_ms = None
        elif self._master_level_since_ms is None:
            self._master_level_since_ms = now_ms
        elif (
            now_ms - self._master_level_since_ms
            >= HAND_BACK_AFTER_TIMEOUTS * self.config.election_timeout_seconds * 1000
        ):
            self._master_level_since_ms = None
            if self._hand_back is None or self._hand_back.done():
                self._hand_back = asyncio.get_running_loop().create_task(self._hand_back_now())

    async def _hand_back_now(self) -> None:
        try:
            paused_s = await self.transfer_leadership(0)
            log.info("handed leadership back to the master (appends paused %.0f ms)", paused_s * 1000)
        except (TransferFailed, NoLeader, ReadOnly) as exc:
            log.info("hand-back to the master did not happen: %s", exc)

    # ---------------------------------------------------------------- election

    def handle_vote(self, message: VoteMessage) -> VoteMessage | None:
        """POST /vote: feed the election; the answer to the requester goes back in the response body."""
        sender = _sender(message)
        self._peer_heard_ms[sender] = self.now_ms()
        self.election.on_message(message, self.now_ms())
        answer, rest = split_answer(message, self.election.take_outputs())
        self._apply(rest)
        return answer

    def _on_vote_answer(self, message: VoteMessage) -> None:
        self._peer_heard_ms[_sender(message)] = self.now_ms()
        self.election.on_message(message, self.now_ms())
        self._apply(self.election.take_outputs())

    def _leader_contact(self, term: int, leader_id: int) -> bool:
        self._peer_heard_ms[leader_id] = self.now_ms()
        accepted = self.election.on_leader_contact(term, leader_id, self.now_ms())
        self._apply(self.election.take_outputs())
        return accepted

    def _leader_lost(self, leader_id: int) -> None:
        self.election.on_leader_lost(leader_id, self.now_ms())
        self._apply(self.election.take_outputs())

    def _on_higher_term(self, term: int) -> None:
        self.election.observe_term(term, self.now_ms())
        self._apply(self.election.take_outputs())

    def _on_follower_contact(self, peer: int) -> None:
        self._peer_heard_ms[peer] = self.now_ms()
        self.election.on_follower_contact(peer, self.now_ms())

    def _apply(self, outputs: list[ElectionOutput]) -> None:
        """Election outputs, in order: the hard state is durable before anything that depends on it."""
        for output in outputs:
            match output:
                case PersistHardState(term, voted_for):
                    self.store.set_hard_state(term, voted_for)
                case SendVote(peer, message):
                    assert self._votes is not None
                    self._votes.send_soon(peer, message, self._on_vote_answer)
                case BecameLeader(term):
                    log.warning("elected leader of term %d", term)
                    self._change_role()
                case BecamePreCandidate(term):
                    self.elections_started += 1
                    log.info("no leader heard: asking for pre-votes for term %d", term + 1)
                    self._change_role()
                case BecameCandidate(term):
                    log.info("campaigning in term %d", term)
                    self.sampler.note("election", f"election: {self.name} campaigns, t{term}", self.name, term)
                    self._change_role()
                case BecameFollower(term, leader_id):
                    if leader_id is not None:
                        self.leader_changes += 1
                        log.info("following %s in term %d", node_name(leader_id), term)
                        leader = node_name(leader_id)
                        self.sampler.note("leader", f"leader {leader} t{term}", leader, term)
                    self._change_role()

    def _change_role(self) -> None:
        """Bring the hosted role in line with the election, one change at a time, in order."""
        previous = self._role_change
        self._role_change = asyncio.get_running_loop().create_task(self._settle_role(previous))

    async def _settle_role(self, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        leading = self.leading
        wanted_term = self.election.term if self.election.role is Role.LEADER else None
        if leading is not None and leading.term != wanted_term:
            self.leading = None
            # "no leader: ..." is what clients retry on: with the same request_id the retry is answered
            # with the original index if the entry survived, and appends it once if it did not.
            await leading.stop(
                f"no leader: leadership of term {leading.term} ended while this append waited; "
                "it may or may not be kept: retry with the same request_id"
            )
            log.info("stepped down from term %d", leading.term)
        if wanted_term is not None and self.leading is None:
            # No old leader's stream may add entries once the Leader has counted the log: close it, then
            # let everything written reach the disk, and only then build the Leader from the synced log.
            await self.following.close()
            await self._committer.wait_synced()
            if self.election.role is not Role.LEADER or self.election.term != wanted_term:
                return  # The term moved on while the log synced.
            if not self.store.log_id:
                self.store.set_log_id(MemoryLog.fresh().log_id)  # Only a cluster of empty nodes gets here.
                log.info("started a new log %s", self.store.log_id)
            assert self._session is not None
            self.leading = Leading(
                config=self.config,
                node_id=self.id,
                term=wanted_term,
                store=self.store,
                committer=self._committer,
                session=self._session,
                instance_id=self.instance_id,
                now_ms=self.now_ms(),
                on_higher_term=self._on_higher_term,
                on_follower_contact=self._on_follower_contact,
                on_report=self._on_leader_report,
            )
            self.leading.start()
            self._leading_since_ms = self.now_ms()
            self.leader_changes += 1
            log.warning("leading term %d from index %d", wanted_term, self.store.last_index)
            self.sampler.note("leader", f"leader {self.name} t{wanted_term}", self.name, wanted_term)

    def _on_leader_report(self, report: Report) -> None:
        self.catch_up_entries.count(report)
        self.sampler.report(report, node_name)

    # -------------------------------------------------------------- plumbing

    def _chart_state(self) -> NodeState:
        leader = self.leader()
        leading = self.ready_leader
        state = NodeState(self.role, self.election.term, leader.name if leader else None, self.store.synced_index)
        if leading is None:
            return state
        core = leading.core
        statuses = core.peer_status()
        return NodeState(
            role=state.role,
            term=state.term,
            leader=self.name,
            last_index=state.last_index,
            read_only=core.read_only,
            lag={node_name(s.peer): max(0, core.synced_index - s.acked_index) for s in statuses},
            health={node_name(s.peer): s.health.value for s in statuses},
        )

    def _log_position(self) -> LogPosition:
        synced = self.store.synced_index
        return LogPosition(self.store.term_at(synced), synced)

    def _on_written(self, index: int) -> None:
        # Only a leader acts on a write before its fsync (it sends the entries); a follower acks synced ones.
        leading = self.ready_leader
        if leading is not None:
            leading.on_written(index)

    def _on_synced(self, index: int) -> None:
        # A deposed Leader may still be stopping: syncs go to whichever role the election says is current.
        leading = self.ready_leader
        if leading is not None:
            leading.on_synced(index)
        else:
            self.following.on_synced(index)

    def _on_write_failed(self, written_index: int, error: StorageError) -> None:
        leading = self.ready_leader
        if leading is not None:
            leading.on_write_failed(written_index, error)
        else:
            self.following.on_write_failed(written_index)

    async def _ticker(self) -> None:
        period_s = min(0.1, self.config.election_timeout_seconds / 10, self.config.link_heartbeat_seconds / 2)
        while True:
            await asyncio.sleep(period_s)  # why: the cores' timers advance on a fixed tick
            now = self.now_ms()
            self.election.tick(now)
            self._apply(self.election.take_outputs())
            if self.leading is not None:
                self.leading.tick(now)
            self._hand_back_to_master(now)

    async def _check_peers_agree(self) -> None:
        problem = await first_disagreement(self.config, self.id, self.http_session)
        if problem and self.fatal is not None and not self.fatal.done():
            log.error("refusing to run: %s", problem)
            self.fatal.set_result(problem)

    def set_faults(self, settings: dict[str, Any]) -> FaultPlan:
        self.faults = FaultPlan.from_settings(settings, self.now_ms(), base=self.faults)
        log.warning("faults set: %s", self.faults.describe(self.now_ms()))
        return self.faults


def _sender(message: VoteMessage) -> int:
    if isinstance(message, VoteRequest):
        return message.candidate
    if isinstance(message, VoteResponse):
        return message.voter
    return message.leader
