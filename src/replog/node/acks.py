"""The follower side's acknowledgements: where injected faults act, between the fsync and the Ack.

Shared by the fixed master's secondaries and failover followers. Acks are cumulative, so a queue that
filled up while one was delayed is drained to its newest; `None` in the queue ends the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

import aiohttp
from aiohttp import web

from replog.core.messages import Ack, Error
from replog.errors import ProtocolError
from replog.faults import FaultPlan
from replog.wire import codec

__all__ = ["refuse_frame", "send_acks", "send_quietly"]

log = logging.getLogger("replog.acks")


async def send_acks(
    ws: web.WebSocketResponse, acks: asyncio.Queue[int | None], faults: Callable[[], FaultPlan], rng: random.Random
) -> None:
    """Acks leave here, after the injected delay, or the link drops instead (error_after_append)."""
    while (index := await acks.get()) is not None:
        while not acks.empty():  # Acks are cumulative: only the newest matters.
            newer = acks.get_nowait()
            if newer is None:
                return
            index = newer
        plan = faults()
        delay_ms = plan.ack_delay_ms(rng)
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)  # why: the injected fault is a delay
        if plan.fail_after_append(rng):
            log.warning("error_after_append fault: stored up to %d, dropping the link instead of acking", index)
            await ws.close(code=aiohttp.WSCloseCode.INTERNAL_ERROR, message=b"injected error after append")
            return
        await send_quietly(ws, codec.encode(Ack(index)))


async def refuse_frame(ws: web.WebSocketResponse, exc: ProtocolError) -> None:
    """Tell the leader why its frame is refused before the link closes, so that its log names the reason (a
    damaged record on its disk, say), not only ours."""
    await send_quietly(ws, codec.encode(Error("protocol", str(exc))))


async def send_quietly(ws: web.WebSocketResponse, frame: bytes) -> None:
    """Send a frame to the leader; a link that is going away is the reader's to notice, not ours."""
    with contextlib.suppress(ConnectionError, aiohttp.ClientError):
        await ws.send_bytes(frame)
