"""One term of leadership, with failover on: the Leader core, a link to every other node, the waiting appends.

A `Leading` lives exactly as long as this node leads one term. The node builds it when the election says
`BecameLeader` (after its own log is fully synced, so the Leader starts from a durable log) and stops it
on any other role: every waiting append then fails with a clear reason, because whether its entry
survives is for the next leader to decide (a `w >= majority` append that was released never is lost;
the others may be rolled back, into a rollback file, never silently).

The links are the fixed master's links (net/peer_link.py), dialled with this term and this node's id in
the upgrade headers, so the node on the other end can tell a current leader from a deposed one.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence

import aiohttp

from replog.config import Config
from replog.core.dedup import recent_request_ids
from replog.core.health import HealthThresholds
from replog.core.leader import Leader, LeaderLimits, Term
from replog.core.messages import Message
from replog.core.outputs import (
    CatchUp,
    Disconnect,
    HealthChanged,
    HigherTerm,
    Persist,
    ReadOnlyChanged,
    Reject,
    Release,
    Send,
)
from replog.errors import LeadershipLost, StorageError
from replog.net.auth import bearer
from replog.net.peer_link import MASTER_INSTANCE_HEADER, LinkCallbacks, PeerLink
from replog.node.committer import GroupCommitter
from replog.node.leader_reports import Report, log_report, settle
from replog.node.names import node_name
from replog.storage.base import LogStore

__all__ = ["LEADER_HEADER", "TERM_HEADER", "Leading", "leader_limits"]

log = logging.getLogger("replog.leader")

# Sent at the replication upgrade: the follower checks the term before it accepts the stream.
TERM_HEADER = "X-Replog-Term"
LEADER_HEADER = "X-Replog-Leader"


def leader_limits(config: Config) -> LeaderLimits:
    return LeaderLimits(
        thresholds=HealthThresholds(
            suspect_after_ms=int(config.suspect_after_seconds * 1000),
            unhealthy_after_ms=int(config.unhealthy_after_seconds * 1000),
        ),
        heartbeat_interval_ms=int(config.link_heartbeat_seconds * 1000),
        batch_entries_max=config.batch_entries_max,
        batch_bytes_max=config.batch_bytes_max,
        inflight_frames_max=config.inflight_frames_max,
        request_id_window=config.request_id_window,
        waiters_max=config.waiters_max,
        waiters_per_w_max=config.waiters_per_w_max,
        suspend_on_slaves_dead=config.suspend_on_slaves_dead,
    )


class Leading:
    def __init__(
        self,
        *,
        config: Config,
        node_id: int,
        term: int,
        store: LogStore,
        committer: GroupCommitter,
        session: aiohttp.ClientSession,
        instance_id: str,
        now_ms: int,
        on_higher_term: Callable[[int], None],
        on_follower_contact: Callable[[int], None],
        on_report: Callable[[Report], None] = lambda report: None,
    ) -> None:
        self.term = term
        self._store = store
        self._committer = committer
        self._on_higher_term = on_higher_term
        self._on_follower_contact = on_follower_contact
        self._on_report = on_report  # health and read-only changes, for the dashboard's charts
        self.peers: Sequence[int] = [peer for peer in range(len(config.nodes)) if peer != node_id]
        self.core = Leader(
            self.peers,
            log_id=store.log_id,
            last_index=store.last_index,
            limits=leader_limits(config),
            read_entries=store.read_for_follower,
            now_ms=now_ms,
            recent_request_ids=recent_request_ids(store.read, store.last_index, config.request_id_window),
            term=Term(term=term, node_id=node_id, failover=True, epochs=store.epochs),
        )
        self._futures: dict[int, asyncio.Future[int]] = {}
        self._write_error: StorageError | None = None
        callbacks = LinkCallbacks(self._on_link_up, self._on_link_down, self._on_frame)
        headers = {
            **bearer(config.cluster_token),
            MASTER_INSTANCE_HEADER: instance_id,
            TERM_HEADER: str(term),
            LEADER_HEADER: str(node_id),
        }
        rng = random.Random()
        self.links = {
            peer: PeerLink(
                peer,
                config.nodes[peer],
                session=session,
                callbacks=callbacks,
                connection_timeout_s=config.connection_timeout,
                backoff_base_ms=int(config.backoff_base_seconds * 1000),
                backoff_max_ms=int(config.backoff_max_seconds * 1000),
                probe_interval_s=config.link_heartbeat_seconds,
                headers=headers,
                rng=rng,
                scheme=config.scheme,
                name=node_name(peer),
                # Twice Unhealthy: well past any injected stall, well short of TCP's own minutes.
                silence_s=2 * config.unhealthy_after_seconds,
            )
            for peer in self.peers
        }
        self._now_ms = now_ms
        self._stopped = False

    def start(self) -> None:
        self.flush()  # The no-op of this term goes to the disk first.
        for link in self.links.values():
            link.start()

    async def stop(self, reason: str) -> None:
        self._stopped = True
        self.core.step_down(reason)
        self.flush()
        for link in self.links.values():
            await link.stop()

    # ------------------------------------------------------------------ appends

    def submit(
        self, payloads: Sequence[bytes], w: int, request_id: str | None
    ) -> tuple[int, int, bool, asyncio.Future[int]]:
        proposal = self.core.propose(payloads, w, request_id)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._futures[proposal.token] = future
        self.flush()
        return proposal.first_index, proposal.last_index, proposal.duplicate, future

    # -------------------------------------------------------- core inputs/outputs

    def on_written(self, index: int) -> None:
        self.core.on_written(index)
        self.flush()

    def on_synced(self, index: int) -> None:
        self.core.on_synced(index)
        self.flush()

    def on_write_failed(self, written_index: int, error: StorageError) -> None:
        self._write_error = error
        self.core.abort_unwritten(written_index, str(error))
        self.flush()

    def tick(self, now_ms: int) -> None:
        self._now_ms = now_ms
        self.core.tick(now_ms)
        self.flush()

    def _on_link_up(self, peer: int) -> None:
        self.core.on_connected(peer, self._now_ms)
        self.flush()

    def _on_link_down(self, peer: int) -> None:
        self.core.on_disconnected(peer, self._now_ms)
        self.flush()

    def _on_frame(self, peer: int, message: Message) -> None:
        if self._stopped:
            return
        self._on_follower_contact(peer)
        self.core.on_message(peer, message, self._now_ms)
        self.flush()

    def flush(self) -> None:
        for output in self.core.take_outputs():
            match output:
                case Persist(entries):
                    self._committer.append(entries)
                case Send(peer, message):
                    self.links[peer].send(message)
                case Disconnect(peer, reason):
                    log.warning("closing link to node %d: %s", peer, reason)
                    self.links[peer].close(reason)
                case Release(token, index):
                    settle(self._futures, token, index)
                case Reject(token, reason):
                    error = self._write_error if self._write_error and not self._stopped else None
                    settle(self._futures, token, error or LeadershipLost(reason))
                case HealthChanged() | ReadOnlyChanged() | CatchUp():
                    log_report(log, output, _node_label, self.core.w_max)
                    self._on_report(output)
                case HigherTerm(term):
                    log.warning("node in term %d found: leadership of term %d is over", term, self.term)
                    self._on_higher_term(term)


def _node_label(peer: int) -> str:
    return f"node {peer}"
