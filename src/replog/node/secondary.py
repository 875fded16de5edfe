"""The secondary's shell: serves the master's replication WebSocket and applies its FaultPlan.

One master connection at a time. The same master redialling replaces its own old connection
(stale, for example after a partition it noticed first); another master process is refused with
a 409 while the current one is live (see `_refuse_second_master`). Before the Hello the shell waits until
everything appended is synced, so the Hello reports exactly what survives a crash.

Injected faults act here, around the pure Follower: delays and "error after append" between
the fsync and the Ack, "internal looping" as a reader that stops reading, "server
unavailable" as a refused upgrade.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.core import Metric

from replog.config import Config
from replog.core.follower import Follower
from replog.core.messages import Ack
from replog.core.outputs import Disconnect, Persist, Send, SetLogId
from replog.errors import ProtocolError, StorageError
from replog.faults import FaultPlan
from replog.metrics import NodeMetrics, gauge
from replog.net.auth import bearer
from replog.net.peer_link import FRAME_BYTES_MAX, MASTER_INSTANCE_HEADER
from replog.net.tls import dial_failure, node_session
from replog.node.acks import refuse_frame, send_acks, send_quietly
from replog.node.clock import Clock, RealClock
from replog.node.committer import GroupCommitter
from replog.storage.base import LogStore, read_synced
from replog.types import Entry
from replog.wire import codec

__all__ = ["SecondaryNode"]

log = logging.getLogger("replog.secondary")


@dataclass(slots=True)
class _MasterLink:
    """Who holds the replication connection, and when it was last heard from."""

    instance: str  # the master process's random id, sent at the upgrade
    remote: str
    last_heard_ms: int


class SecondaryNode:
    def __init__(self, config: Config, secondary_id: int, store: LogStore, *, clock: Clock | None = None) -> None:
        self.config = config
        self.id = secondary_id
        self.store = store
        self._clock = clock or RealClock()
        self.core = Follower(
            secondary_id,
            log_id=store.log_id,
            synced_index=store.synced_index,
            last_term=store.term_at(store.synced_index),
        )
        self.metrics = NodeMetrics("secondary")
        self.metrics.watch(self._scrape)
        self._committer = GroupCommitter(
            store, self._on_synced, self._on_write_failed, self.metrics.fsync_seconds.observe
        )
        self._rng = random.Random()
        self.faults = FaultPlan.from_settings(config.faults_for(secondary_id), self._clock.monotonic_ms())
        self._ws: web.WebSocketResponse | None = None
        self._master: _MasterLink | None = None
        self._acks: asyncio.Queue[int | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[Any]] = []

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._committer.start()
        self._tasks.append(asyncio.get_running_loop().create_task(self._announce(), name="join"))
        log.info("secondary %d up: log %r, %d entries", self.id, self.store.log_id, self.store.last_index)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()
        await self._committer.stop()
        self.store.close()

    def set_faults(self, settings: dict[str, Any]) -> FaultPlan:
        self.faults = FaultPlan.from_settings(settings, self._clock.monotonic_ms(), base=self.faults)
        log.warning("faults set: %s", self.faults.describe(self._clock.monotonic_ms()))
        return self.faults

    def now_ms(self) -> int:
        return self._clock.monotonic_ms()

    def read_synced(self, start: int, limit: int) -> list[Entry]:
        return read_synced(self.store, start, limit)

    # ------------------------------------------------------------ replication

    async def serve_replication(self, request: web.Request) -> web.StreamResponse:
        if self.faults.unavailable(self.now_ms()):
            log.warning("refusing the master's connection (server_unavailable fault)")
            return web.json_response({"error": "server_unavailable fault injected"}, status=503)
        instance = request.headers.get(MASTER_INSTANCE_HEADER, "")
        refusal = self._refuse_second_master(instance, request.remote or "?")
        if refusal:
            return web.json_response({"error": refusal}, status=409)
        ws = web.WebSocketResponse(max_msg_size=FRAME_BYTES_MAX, autoping=True)
        try:
            await ws.prepare(request)
        except (ConnectionError, aiohttp.ClientConnectionResetError) as exc:
            log.warning("replication handshake from %s failed: %s", request.remote, exc)
            return ws
        if self._ws is not None:
            await self._ws.close()
        await self._committer.wait_synced()
        self._ws = ws
        self._master = _MasterLink(instance, request.remote or "?", self.now_ms())
        self._acks = asyncio.Queue()
        acker = asyncio.get_running_loop().create_task(send_acks(ws, self._acks, lambda: self.faults, self._rng))
        log.info("master connected from %s", request.remote)
        self.core.on_connected()
        self._flush()
        try:
            await self._read(ws)
        finally:
            if self._ws is ws:
                self._ws = None
                self.core.on_disconnected()
            acker.cancel()
            await asyncio.gather(acker, return_exceptions=True)
            await ws.close()
            log.warning("master connection from %s closed", request.remote)
        return ws

    async def _read(self, ws: web.WebSocketResponse) -> None:
        # A real master answers our Hello at once; a peer that stays silent is not one, and is cut off.
        try:
            first = await ws.receive(timeout=self.config.connection_timeout)
        except TimeoutError:
            log.warning("closing a replication connection: no Welcome within connection_timeout")
            return
        async for frame in _prepend(first, ws):
            await self._stall_while_looping()
            if self._ws is not ws:
                return
            self._master.last_heard_ms = self.now_ms()
            if frame.type is not aiohttp.WSMsgType.BINARY:
                log.warning("closing master link: unexpected %s frame", frame.type.name)
                return
            try:
                message = codec.decode(frame.data)
            except ProtocolError as exc:
                log.warning("closing master link: protocol error: %s", exc)
                await refuse_frame(ws, exc)
                return
            self.core.on_message(message)
            self._flush()

    def _refuse_second_master(self, instance: str, remote: str) -> str:
        """Why a new master connection may not displace the current one ('' when it may).

        The same master process redialling (its instance id matches) replaces its own stale connection,
        for example after a partition it noticed first. Another master process may take over only once
        the current one has gone silent for `unhealthy_after_seconds`, the same silence that makes the
        master call us Unhealthy: a live master is never displaced, and a dead one never blocks its
        successor for long.
        """
        current = self._master
        if self._ws is None or current is None:
            return ""
        if instance and instance == current.instance:
            log.info("the master at %s redialled: its new connection replaces the old one", remote)
            return ""
        silent_ms = self.now_ms() - current.last_heard_ms
        if silent_ms >= self.config.unhealthy_after_seconds * 1000:
            log.warning("a master at %s replaces the one at %s, silent for %d ms", remote, current.remote, silent_ms)
            return ""
        log.warning(
            "kept the live master connection from %s (heard %d ms ago); refused a second master from %s",
            current.remote,
            silent_ms,
            remote,
        )
        return (
            f"another master (at {current.remote}) is connected and was heard {silent_ms} ms ago; "
            "this secondary follows one master at a time"
        )

    async def _stall_while_looping(self) -> None:
        remaining_ms = self.faults.looping_until_ms - self.now_ms()
        if remaining_ms > 0:
            log.warning("internal_looping fault: not answering for %d ms", remaining_ms)
            await asyncio.sleep(remaining_ms / 1000)  # why: the injected fault is a stall

    def _on_synced(self, index: int) -> None:
        self.core.on_synced(index)
        self._flush()

    def _flush(self) -> None:
        for output in self.core.take_outputs():
            match output:
                case Persist(entries):
                    self._committer.append(entries)
                case Send(_, Ack(contiguous_index=index)):
                    self._acks.put_nowait(index)
                case Send(_, message):
                    if self._ws is not None:
                        frame = codec.encode(message)
                        asyncio.get_running_loop().create_task(send_quietly(self._ws, frame))
                case Disconnect(_, reason):
                    if "protocol version" in self.core.refusal:
                        # Not about whose log this is: a reset would lose our log and not help.
                        log.error("the master refused this secondary: %s", self.core.refusal)
                    elif self.core.refusal:
                        log.error(
                            "refusing to follow this master: %s. Our log is kept untouched; to discard it and "
                            "follow this master, restart with `replog secondary --id %d --reset`.",
                            self.core.refusal,
                            self.id,
                        )
                    log.warning("closing master link: %s", reason)
                    self._acks.put_nowait(None)
                    if self._ws is not None:
                        asyncio.get_running_loop().create_task(self._ws.close())
                case SetLogId(log_id):
                    log.info("adopting the master's log id %s", log_id)
                    self.store.set_log_id(log_id)

    def _on_write_failed(self, written_index: int, error: StorageError) -> None:
        self.core.persist_failed(written_index)
        self._flush()

    def _scrape(self) -> Iterator[Metric]:
        yield gauge("replog_contiguous_index", "Last index of the durable contiguous prefix", self.store.synced_index)
        yield gauge("replog_master_connected", "1 while the master's replication link is up", int(self.core.connected))

    async def _announce(self) -> None:
        """Tell the master we are up so it dials now instead of after its backoff."""
        url = self.config.url_of(self.config.master) + "/join"
        said = ""
        async with node_session(self.config) as session:
            for attempt in range(5):
                try:
                    async with session.post(
                        url,
                        json={"id": self.id},
                        headers=bearer(self.config.cluster_token),
                        timeout=aiohttp.ClientTimeout(total=self.config.connection_timeout),
                    ) as response:
                        if response.status < 300:
                            log.info("announced to the master at %s", self.config.master)
                            return
                        log.warning("master refused our announcement: HTTP %d", response.status)
                        return
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    why = dial_failure(exc, tls=self.config.tls)
                    if why != said:  # once per reason: a master that is down for a while is not news each time
                        log.warning("cannot announce ourselves to the master at %s: %s", url, why)
                        said = why
                    await asyncio.sleep(min(2.0, 0.2 * 2**attempt))  # why: backoff between announcements


async def _prepend(first: aiohttp.WSMessage, ws: web.WebSocketResponse) -> AsyncIterator[aiohttp.WSMessage]:
    if first.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
        return
    yield first
    async for frame in ws:
        yield frame
