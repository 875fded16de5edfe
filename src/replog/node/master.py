"""The master's shell: HTTP appends in, the core's decisions out, futures resolved.

Everything the core asks for is done in `_flush`, right after each input, in order:
Persist goes to the group committer, Send and Disconnect to the peer's link, Release
resolves the waiting request's future. The shell owns no replication logic of its own.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import aiohttp
from prometheus_client.core import Metric

from replog.config import Config
from replog.core.dedup import recent_request_ids
from replog.core.health import HealthThresholds
from replog.core.leader import Leader, LeaderLimits, PeerStatus
from replog.core.messages import Message
from replog.core.outputs import (
    CatchUp,
    Disconnect,
    HealthChanged,
    Persist,
    ReadOnlyChanged,
    Reject,
    Release,
    Send,
)
from replog.errors import StorageError
from replog.metrics import NodeMetrics, gauge
from replog.net.auth import bearer
from replog.net.peer_link import MASTER_INSTANCE_HEADER, LinkCallbacks, PeerLink
from replog.net.tls import node_session
from replog.node.clock import Clock, RealClock
from replog.node.committer import GroupCommitter
from replog.node.leader_metrics import CatchUpCounts, leader_families
from replog.node.leader_reports import log_report, settle
from replog.node.sampler import Sampler
from replog.samples import NodeState
from replog.storage.base import LogStore, read_synced
from replog.types import Entry

__all__ = ["AppendResult", "MasterNode", "WriteConcernTimeout"]

log = logging.getLogger("replog.master")


@dataclass(frozen=True, slots=True)
class AppendResult:
    first_index: int
    last_index: int
    w: int
    duplicate: bool


class WriteConcernTimeout(Exception):
    """timeout_ms passed before w copies existed; the entries stay and keep replicating."""

    def __init__(self, result: AppendResult, timeout_ms: int) -> None:
        self.result = result
        super().__init__(
            f"write concern w={result.w} not reached within {timeout_ms} ms: index {result.last_index} is "
            "stored on the leader, replication continues"
        )


class MasterNode:
    def __init__(self, config: Config, store: LogStore, *, clock: Clock | None = None) -> None:
        self.config = config
        self.store = store
        self._clock = clock or RealClock()
        limits = LeaderLimits(
            thresholds=HealthThresholds(
                suspect_after_ms=int(config.suspect_after_seconds * 1000),
                unhealthy_after_ms=int(config.unhealthy_after_seconds * 1000),
            ),
            heartbeat_interval_ms=int(config.heartbeat_seconds * 1000),
            batch_entries_max=config.batch_entries_max,
            batch_bytes_max=config.batch_bytes_max,
            inflight_frames_max=config.inflight_frames_max,
            request_id_window=config.request_id_window,
            waiters_max=config.waiters_max,
            waiters_per_w_max=config.waiters_per_w_max,
            suspend_on_slaves_dead=config.suspend_on_slaves_dead,
        )
        self.core = Leader(
            range(len(config.secondaries)),
            log_id=store.log_id,
            last_index=store.last_index,
            limits=limits,
            read_entries=store.read_for_follower,
            now_ms=self._clock.monotonic_ms(),
            recent_request_ids=recent_request_ids(store.read, store.last_index, config.request_id_window),
        )
        self._futures: dict[int, asyncio.Future[int]] = {}
        self._write_error: StorageError | None = None
        self.metrics = NodeMetrics("master")
        self.metrics.watch(self._scrape)
        self.sampler = Sampler("master", self.metrics.per_second, self._chart_state)
        self._catch_up_entries = CatchUpCounts()
        self._committer = GroupCommitter(
            store, self._on_synced, self._on_write_failed, self.metrics.fsync_seconds.observe
        )
        self._links: list[PeerLink] = []
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.instance_id = uuid.uuid4().hex

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._session = node_session(self.config)
        callbacks = LinkCallbacks(self._on_link_up, self._on_link_down, self._on_frame)
        rng = random.Random()
        for peer, address in enumerate(self.config.secondaries):
            link = PeerLink(
                peer,
                address,
                session=self._session,
                callbacks=callbacks,
                connection_timeout_s=self.config.connection_timeout,
                backoff_base_ms=int(self.config.backoff_base_seconds * 1000),
                backoff_max_ms=int(self.config.backoff_max_seconds * 1000),
                probe_interval_s=self.config.heartbeat_seconds,
                headers={**bearer(self.config.cluster_token), MASTER_INSTANCE_HEADER: self.instance_id},
                rng=rng,
                scheme=self.config.scheme,
                name=f"secondary-{peer}",
            )
            self._links.append(link)
        self._committer.start()
        for link in self._links:
            link.start()
        self._tasks.append(asyncio.get_running_loop().create_task(self._ticker(), name="ticker"))
        self._tasks.append(asyncio.get_running_loop().create_task(self.sampler.run(), name="sampler"))
        self.sampler.note("start", "master started", "master")
        log.info(
            "master up: log %s, %d entries, secondaries %s",
            self.store.log_id,
            self.store.last_index,
            ", ".join(self.config.secondaries),
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for link in self._links:
            await link.stop()
        await self._committer.stop()
        if self._session:
            await self._session.close()
        self.store.close()

    # ------------------------------------------------------------------ appends

    async def append(
        self, payloads: Sequence[bytes], w: int, request_id: str | None = None, timeout_ms: int | None = None
    ) -> AppendResult:
        """Append and wait for `w` copies. Raises the core's refusals, StorageError, WriteConcernTimeout."""
        result, future = self.submit(payloads, w, request_id)
        if timeout_ms is None:
            await future
            return result
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout_ms / 1000)
        except TimeoutError:
            raise WriteConcernTimeout(result, timeout_ms) from None
        return result

    def submit(
        self, payloads: Sequence[bytes], w: int, request_id: str | None = None
    ) -> tuple[AppendResult, asyncio.Future[int]]:
        """Propose now, without waiting: the future resolves once `w` copies exist.

        A waiter whose client left stays in the core until released; waiters_max bounds them.
        """
        proposal = self.core.propose(payloads, w, request_id)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._futures[proposal.token] = future
        self._flush()
        return AppendResult(proposal.first_index, proposal.last_index, w, proposal.duplicate), future

    def join(self, peer: int) -> None:
        """POST /join: the secondary says it is up."""
        log.info("secondary %d announced itself", peer)
        self._links[peer].wake()

    # ------------------------------------------------------------------- reads

    def read_synced(self, start: int, limit: int) -> list[Entry]:
        return read_synced(self.store, start, limit)

    def peer_status(self) -> list[tuple[PeerStatus, PeerLink]]:
        return list(zip(self.core.peer_status(), self._links, strict=True))

    # -------------------------------------------------------- core inputs/outputs

    def _on_synced(self, index: int) -> None:
        self.core.on_synced(index)
        self._flush()

    def _on_write_failed(self, written_index: int, error: StorageError) -> None:
        self._write_error = error  # Rejected requests get this error itself, so a full disk stays a 507.
        self.core.abort_unwritten(written_index, str(error))
        self._flush()

    def _on_link_up(self, peer: int) -> None:
        self.core.on_connected(peer, self._clock.monotonic_ms())
        self._flush()

    def _on_link_down(self, peer: int) -> None:
        self.core.on_disconnected(peer, self._clock.monotonic_ms())
        self._flush()

    def _on_frame(self, peer: int, message: Message) -> None:
        self.core.on_message(peer, message, self._clock.monotonic_ms())
        self._flush()

    async def _ticker(self) -> None:
        period_s = min(0.1, self.config.heartbeat_seconds / 2)
        while True:
            await asyncio.sleep(period_s)  # why: the core's timers advance on a fixed tick
            self.core.tick(self._clock.monotonic_ms())
            self._flush()

    def _flush(self) -> None:
        for output in self.core.take_outputs():
            match output:
                case Persist(entries):
                    self._committer.append(entries)
                case Send(peer, message):
                    self._links[peer].send(message)
                case Disconnect(peer, reason):
                    log.warning("closing link %d: %s", peer, reason)
                    self._links[peer].close(reason)
                case Release(token, index):
                    settle(self._futures, token, index)
                case Reject(token, reason):
                    settle(self._futures, token, self._write_error or StorageError(reason))
                case HealthChanged() | ReadOnlyChanged() | CatchUp():
                    self._catch_up_entries.count(output)
                    log_report(log, output, _secondary_label, self.core.w_max)
                    self.sampler.report(output, _secondary_name)

    def _chart_state(self) -> NodeState:
        core = self.core
        statuses = core.peer_status()
        return NodeState(
            role="master",
            term=None,
            leader="master",
            last_index=core.synced_index,
            read_only=core.read_only,
            lag={_secondary_name(s.peer): max(0, core.synced_index - s.acked_index) for s in statuses},
            health={_secondary_name(s.peer): s.health.value for s in statuses},
        )

    def _scrape(self) -> Iterator[Metric]:
        yield gauge("replog_last_index", "Last index synced on the master", self.core.synced_index)
        links = {link.peer: link for link in self._links}
        yield from leader_families(self.core, links, self._catch_up_entries, str)


def _secondary_label(peer: int) -> str:
    return f"secondary {peer}"


def _secondary_name(peer: int) -> str:
    return f"secondary-{peer}"
