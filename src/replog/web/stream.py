"""`GET /stream` on the master: a WebSocket on which one client keeps many appends in flight.

Per connection there is no task per message: each item of a frame is proposed at once, and a
done-callback on its future queues the answer. One writer task sends everything queued as one
frame whenever it gets to run, so answers are coalesced just like the appends were. When more
than `inflight_max` appends of this connection wait, the reader stops reading: TCP then pushes
back on the client instead of memory growing here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
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
            for append in appends:
                self._submit(append)
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

    def _submit(self, append: StreamAppend) -> None:
        try:
            config = self._node.config
            payload, w, request_id = parse_one(
                append.msg,
                append.w,
                append.request_id,
                default_w=config.default_w,
                w_max=self._w_max,
                message_bytes_max=config.message_bytes_max,
            )
            result, future = self._node.submit([payload], w, request_id)
        except ReplogError as exc:
            self._node.metrics.observe_append(_w_label(append.w), outcome_of(exc), 0.0)
            self._answer([append.correlation_id, 0, [status_for(exc), describe(exc)]])
            return
        self._inflight += 1
        started = time.perf_counter()
        future.add_done_callback(functools.partial(self._on_done, append.correlation_id, result, started))

    def _on_done(self, correlation_id: int, result: AppendResult, started: float, future: asyncio.Future[int]) -> None:
        self._inflight -= 1
        if self._inflight < INFLIGHT_MAX:
            self._room.set()
        if future.cancelled():
            return
        error = future.exception()
        elapsed = time.perf_counter() - started
        if error is None:
            status_error = [200, "duplicate"] if result.duplicate else None
            self._node.metrics.observe_append(result.w, "duplicate" if result.duplicate else "ok", elapsed)
            self._answer([correlation_id, result.last_index, status_error])
        else:
            self._node.metrics.observe_append(result.w, outcome_of(error), elapsed)
            self._answer([correlation_id, result.last_index, [status_for(error), describe(error)]])

    def _answer(self, answer: list[Any]) -> None:
        self._answers.append(answer)
        self._have_answers.set()


def _w_label(w: object) -> int:
    return w if type(w) is int else 0
