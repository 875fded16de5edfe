"""The follower side of replication, with failover on: the current leader's stream into the local log.

A leader dials `/replication` with its term and id in the upgrade headers. The stream is accepted only
from a leader whose term is at least ours (`leader_contact`, which also tells the election that a live
leader exists); a deposed leader gets `Error(stale_term, our term)` on its stream and steps down when it
reads it. Each accepted connection gets a fresh Follower core built from the synced log, so nothing of a
previous leader's stream survives into the next. Every frame that carries a term passes the same check
before the core sees it, and a newer leader's connection replaces an older one.

When the leader's Welcome says our log stops matching its log at `match_index`, the entries after it are
written to `<node dir>/rollback/<term>-<first>-<last>.jsonl` and fsynced *before* they are cut from the
log: an acknowledged `w < majority` write that a failover undoes is always there to recover by hand.
Injected faults (delays, error after append) act between the fsync and the Ack, as on a secondary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from replog.config import Config
from replog.core.follower import Follower
from replog.core.messages import STALE_TERM, Ack, Append, Error, Heartbeat, Welcome
from replog.core.outputs import Disconnect, Persist, Send, SetLogId, Truncate
from replog.errors import ProtocolError
from replog.faults import FaultPlan
from replog.net.peer_link import FRAME_BYTES_MAX
from replog.node.acks import refuse_frame, send_acks, send_quietly
from replog.node.committer import GroupCommitter
from replog.node.leading import LEADER_HEADER, TERM_HEADER
from replog.storage.base import LogStore
from replog.storage.rollback import write_rollback
from replog.wire import codec

__all__ = ["Following"]

log = logging.getLogger("replog.follower")

LeaderContact = Callable[[int, int], bool]
"""(term, leader_id) -> False when that term is stale; also tells the election a leader is alive."""


class Following:
    def __init__(
        self,
        *,
        config: Config,
        node_id: int,
        store: LogStore,
        committer: GroupCommitter,
        node_dir: Path | None,
        leader_contact: LeaderContact,
        leader_lost: Callable[[int], None],
        current_term: Callable[[], int],
        faults: Callable[[], FaultPlan],
        now_ms: Callable[[], int],
    ) -> None:
        self._config = config
        self._node_id = node_id
        self._store = store
        self._committer = committer
        self._node_dir = node_dir
        self._leader_contact = leader_contact
        self._leader_lost = leader_lost
        self._current_term = current_term
        self._faults = faults
        self._now_ms = now_ms
        self._rng = random.Random()
        self.core: Follower | None = None
        self._ws: web.WebSocketResponse | None = None
        self._acks: asyncio.Queue[int | None] = asyncio.Queue()
        self._closing: set[asyncio.Task[bool]] = set()  # replaced connections being closed
        self.rolled_back = 0
        self.leader_commit = 0  # The highest commit index any leader told us (committed reads).

    @property
    def commit_index(self) -> int:
        return min(max(self.leader_commit, self.core.commit_index if self.core else 0), self._store.synced_index)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        for task in self._closing:
            task.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def serve(self, request: web.Request) -> web.StreamResponse:
        try:
            term, leader = int(request.headers[TERM_HEADER]), int(request.headers[LEADER_HEADER])
        except (KeyError, ValueError):
            return web.json_response(
                {"error": f"a leader's upgrade needs {TERM_HEADER} and {LEADER_HEADER}"}, status=400
            )
        if self._faults().unavailable(self._now_ms()):
            return web.json_response({"error": "server_unavailable fault injected"}, status=503)
        ws = web.WebSocketResponse(max_msg_size=FRAME_BYTES_MAX, autoping=True)
        try:
            await ws.prepare(request)
        except (ConnectionError, aiohttp.ClientConnectionResetError) as exc:
            log.warning("replication handshake from node %d failed: %s", leader, exc)
            return web.Response(status=400, text=f"handshake failed: {exc}")  # An unprepared ws cannot answer.
        if not self._leader_contact(term, leader):
            await self._refuse_stale(ws, term)
            return ws
        if self._ws is not None:
            log.info("node %d (term %d) replaces the previous leader connection", leader, term)
            replaced, self._ws = self._ws, None  # Replaced, not lost: its closing says nothing of the leader.
            # Closed in the background: a close waits for the old peer's answer, and a leader that is cut
            # off or frozen may never give one; the new leader must not wait for the old one.
            closing = asyncio.get_running_loop().create_task(replaced.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        await self._committer.wait_synced()
        store = self._store
        core = Follower(
            self._node_id,
            log_id=store.log_id,
            synced_index=store.synced_index,
            last_term=store.term_at(store.synced_index),
        )
        self._ws, self.core, self._acks = ws, core, asyncio.Queue()
        acker = asyncio.get_running_loop().create_task(send_acks(ws, self._acks, self._faults, self._rng))
        log.info("following node %d in term %d from %d", leader, term, store.synced_index)
        core.on_connected(term=self._current_term(), epochs=store.epochs())
        self._flush(core)
        try:
            await self._read(ws, core, leader)
        finally:
            self.leader_commit = max(self.leader_commit, core.commit_index)
            if self._ws is ws:
                self._ws = None
                core.on_disconnected()
                self._leader_lost(leader)
            acker.cancel()
            await asyncio.gather(acker, return_exceptions=True)
            await ws.close()
        return ws

    async def _refuse_stale(self, ws: web.WebSocketResponse, term: int) -> None:
        ours = self._current_term()
        log.info("refusing a leader of term %d: this node is in term %d", term, ours)
        with contextlib.suppress(ConnectionError, aiohttp.ClientError):
            await ws.send_bytes(codec.encode(Error(STALE_TERM, f"this node is in term {ours}", ours)))
        await ws.close()

    async def _read(self, ws: web.WebSocketResponse, core: Follower, leader: int) -> None:
        async for frame in ws:
            if self._ws is not ws:
                return
            if frame.type is not aiohttp.WSMsgType.BINARY:
                return
            try:
                message = codec.decode(frame.data)
            except ProtocolError as exc:
                log.warning("closing the leader's link: protocol error: %s", exc)
                await refuse_frame(ws, exc)
                return
            if isinstance(message, Welcome | Append | Heartbeat) and not self._leader_contact(message.term, leader):
                await self._refuse_stale(ws, message.term)
                return
            await self._stall_while_looping()
            core.on_message(message)
            self._flush(core)

    async def _stall_while_looping(self) -> None:
        remaining_ms = self._faults().looping_until_ms - self._now_ms()
        if remaining_ms > 0:
            await asyncio.sleep(remaining_ms / 1000)  # why: the injected fault is a stall

    def on_synced(self, index: int) -> None:
        core = self.core
        if core is not None and index <= core.appended_index:
            core.on_synced(index)
            self._flush(core)

    def on_write_failed(self, written_index: int) -> None:
        core = self.core
        if core is not None and core.synced_index <= written_index <= core.appended_index:
            core.persist_failed(written_index)
            self._flush(core)

    def _flush(self, core: Follower) -> None:
        for output in core.take_outputs():
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
                    log.warning("closing the leader's link: %s", reason)
                    self._acks.put_nowait(None)
                    if self._ws is not None:
                        asyncio.get_running_loop().create_task(self._ws.close())
                case SetLogId(log_id):
                    log.info("adopting the cluster's log id %s", log_id)
                    self._store.set_log_id(log_id)
                case Truncate(after_index):
                    self._roll_back(after_index)

    def _roll_back(self, after_index: int) -> None:
        """Keep 1..after_index: what follows goes to a rollback file first, fsynced, then off the log."""
        store = self._store
        dropped = []
        start = after_index + 1
        while start <= store.last_index:
            chunk = store.read(start, store.last_index, 4 << 20)
            dropped += chunk
            start = chunk[-1].index + 1
        if self._node_dir is not None and dropped:
            path = write_rollback(self._node_dir, self._current_term(), dropped)
            log.warning(
                "rolled back %d entries (%d..%d) that the leader's log does not hold; they are in %s",
                len(dropped),
                dropped[0].index,
                dropped[-1].index,
                path,
            )
        elif dropped:
            log.warning(
                "rolled back %d entries (%d..%d); storage is memory, no file kept",
                len(dropped),
                start,
                store.last_index,
            )
        store.truncate_after(after_index)
        self.rolled_back += len(dropped)
