"""`GET /stream` on the master: a WebSocket on which one client keeps many appends in flight.

Per connection there is no task per message: the items of a frame are proposed at once, and a
done-callback on each proposal's future queues the answers. Consecutive items of one frame with the same
`w` and no request_id go in as one proposal, as a POST of {"msgs": [...]} does (one waiter, one future,
one release; at most `append_batch_max` and `batch_entries_max` items), and each is answered with its
own index. A proposal per item (a waiter, a future, a release and a callback each) was most of the leader's
work: the bench's pipelined rows went from 114-127 to 65-75 ms of the cluster's CPU per 1,000 appends.
An item with a request_id is a proposal of its own, so that its dedup stays per append.
One writer task sends everything queued as one frame whenever it gets to run, so answers are coalesced
just like the appends were. When more than INFLIGHT_MAX appends of this connection wait, the reader
stops reading: TCP then pushes back on the client instead of memory growing here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import web

from replog.errors import ProtocolError, ReplogError
from replog.node.master import AppendResult, MasterNode
from replog.node.replica import ReplicaNode
from replog.web.errors import describe, outcome_of, status_for
from replog.web.requests import parse_one
from replog.wire.stream_codec import StreamAppend, decode_appends, encode_answers

__all__ = ["serve_stream"]

log = logging.getLogger("replog.stream")

INFLIGHT_MAX = 65_536
FRAME_BYTES_MAX = 64 << 20


async def serve_stream(node: MasterNode | ReplicaNode, request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(max_msg_size=FRAME_BYTES_MAX)
    await ws.prepare(request)
    session = _StreamSession(node, ws)
    writer = asyncio.get_running_loop().create_task(session.write_answers())
    try:
        await session.read_appends()
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        await ws.close()
    return ws


class _StreamSession:
    def __init__(self, node: MasterNode | ReplicaNode, ws: web.WebSocketResponse) -> None:
        self._node = node
        self._ws = ws
        self._w_max = len(node.config.secondaries) + 1
        self._answers: list[list[Any]] = []
        self._have_answers = asyncio.Event()
        self._inflight = 0
        self._room = asyncio.Event()
        self._room.set()

    async def read_appends(self) -> None:
        async for frame in self._ws:
            if frame.type is not aiohttp.WSMsgType.BINARY:
                await self._ws.close(code=aiohttp.WSCloseCode.UNSUPPORTED_DATA, message=b"binary frames only")
                return
            try:
                appends = decode_appends(frame.data)
            except ProtocolError as exc:
                log.warning("closing a client stream: %s", exc)
                await self._ws.close(code=aiohttp.WSCloseCode.UNSUPPORTED_DATA, message=str(exc).encode()[:120])
                return
            self._submit_frame(appends)
            if self._inflight >= INFLIGHT_MAX:
                self._room.clear()
                await self._room.wait()

    async def write_answers(self) -> None:
        while True:
            await self._have_answers.wait()
            self._have_answers.clear()
            answers, self._answers = self._answers, []
            with contextlib.suppress(ConnectionError):
                await self._ws.send_bytes(encode_answers(answers))

    def _submit_frame(self, appends: Sequence[StreamAppend]) -> None:
        """Propose a frame's appends in order: runs of the same `w` without a request_id together."""
        config = self._node.config
        # At most one replication frame's worth: a run is released whole, so its first items wait for its last.
        run_max = min(config.append_batch_max, config.batch_entries_max)
        run: list[tuple[int, bytes]] = []  # (correlation_id, payload) of the run being gathered
        run_w = 0
        for append in appends:
            try:
                payload, w, request_id = parse_one(
                    append.msg,
                    append.w,
                    append.request_id,
                    default_w=config.default_w,
                    w_max=self._w_max,
                    message_bytes_max=config.message_bytes_max,
                )
            except ReplogError as exc:
                # Counted under default_w, as a POST that fails its checks is: a metrics label per `w` a
                # client may send would grow without bound.
                self._refuse(append.correlation_id, config.default_w, exc)
                continue
            if run and (w != run_w or request_id is not None or len(run) >= run_max):
                self._propose(run, run_w, None)
                run = []
            if request_id is not None:
                self._propose([(append.correlation_id, payload)], w, request_id)
            else:
                run.append((append.correlation_id, payload))
                run_w = w
        if run:
            self._propose(run, run_w, None)

    def _propose(self, items: list[tuple[int, bytes]], w: int, request_id: str | None) -> None:
        try:
            result, future = self._node.submit([payload for _, payload in items], w, request_id)
        except ReplogError as exc:
            for correlation_id, _ in items:
                self._refuse(correlation_id, w, exc)
            return
        self._inflight += len(items)
        started = time.perf_counter()
        ids = [correlation_id for correlation_id, _ in items]
        future.add_done_callback(functools.partial(self._on_done, ids, result, started))

    def _refuse(self, correlation_id: int, w: int, exc: ReplogError) -> None:
        self._node.metrics.observe_append(w, outcome_of(exc), 0.0)
        self._answer([correlation_id, 0, [status_for(exc), describe(exc)]])

    def _on_done(self, ids: list[int], result: AppendResult, started: float, future: asyncio.Future[int]) -> None:
        self._inflight -= len(ids)
        if self._inflight < INFLIGHT_MAX:
            self._room.set()
        if future.cancelled():
            return
        error = future.exception()
        elapsed = time.perf_counter() - started
        if error is None:
            outcome = "duplicate" if result.duplicate else "ok"
            status_error: list[Any] | None = [200, "duplicate"] if result.duplicate else None
        else:
            outcome, status_error = outcome_of(error), [status_for(error), describe(error)]
        # Counted from the end: a duplicate (always a run of one) is answered at the last index of the batch
        # that first carried its request_id, as a POST is.
        for place, correlation_id in enumerate(ids):
            self._node.metrics.observe_append(result.w, outcome, elapsed)
            self._answer([correlation_id, result.last_index - (len(ids) - 1 - place), status_error])

    def _answer(self, answer: list[Any]) -> None:
        self._answers.append(answer)
        self._have_answers.set()
