"""A link drops a connection on which nothing has been heard for `silence_s`, and only such a one.

Real sockets on loopback: a WebSocket server that answers the upgrade and then sends frames on a
schedule, and a PeerLink dialling it. The link's silence timer is moved by frames rather than armed per
frame, so both sides of its rule are checked: frames spaced well inside the window keep the connection
for several windows, and a silent peer is dropped a window after its last frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from replog.core.messages import Ack
from replog.net.peer_link import LinkCallbacks, PeerLink
from replog.wire import codec

SILENCE_S = 0.4


class Peer:
    """A replication endpoint that sends an Ack every `gap_s`, `frames` times, then stays silent."""

    def __init__(self, frames: int, gap_s: float) -> None:
        self.frames = frames
        self.gap_s = gap_s
        self.connections = 0

    async def replication(self, request: web.Request) -> web.WebSocketResponse:
        self.connections += 1
        ws = web.WebSocketResponse(autoping=False)  # no pong either: silence means silence
        await ws.prepare(request)
        with contextlib.suppress(ConnectionResetError):  # the link may close first: that is what is checked
            for number in range(self.frames):
                await asyncio.sleep(self.gap_s)  # why: the schedule under test, not a synchronisation
                await ws.send_bytes(codec.encode(Ack(number)))
            await ws.receive()  # until the link closes it
        return ws


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Peer], Awaitable[int]]]:
    runners: list[web.AppRunner] = []

    async def start(peer: Peer) -> int:
        app = web.Application()
        app.router.add_get("/replication", peer.replication)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return runner.addresses[0][1]

    yield start
    for runner in runners:
        await runner.cleanup()


async def _watch(peer: Peer, port: int, until_s: float) -> tuple[list[float], list[str], list[float]]:
    """Run a link to the peer for `until_s`: when its connection went down, why, and when each frame came."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    downs: list[float] = []
    heard: list[float] = []
    async with aiohttp.ClientSession() as session:
        link = PeerLink(
            1,
            f"127.0.0.1:{port}",
            session=session,
            callbacks=LinkCallbacks(
                lambda _peer: None,
                lambda _peer: downs.append(loop.time() - started),
                lambda _peer, _message: heard.append(loop.time() - started),
            ),
            connection_timeout_s=1.0,
            backoff_base_ms=5_000,  # one connection per test: no redial inside the watch
            backoff_max_ms=5_000,
            probe_interval_s=5.0,
            headers={},
            rng=random.Random(1),
            silence_s=SILENCE_S,
        )
        link.start()
        deadline = loop.time() + until_s
        while loop.time() < deadline and not downs:
            await asyncio.sleep(0.01)  # why: poll, bounded, for the link's verdict
        reasons = [link.last_error] if downs else []
        await link.stop()
    return downs, reasons, heard


async def test_a_silent_peer_is_dropped_within_the_window(serve: Callable[[Peer], Awaitable[int]]) -> None:
    peer = Peer(frames=0, gap_s=0)
    downs, reasons, heard = await _watch(peer, await serve(peer), until_s=3.0)
    assert heard == []
    assert len(downs) == 1, "the silent connection was never dropped"
    assert SILENCE_S <= downs[0] <= SILENCE_S + 0.5
    assert reasons == [f"nothing heard for {SILENCE_S:g} s: dropping the connection"]


async def test_frames_inside_the_window_keep_the_connection_and_the_drop_comes_a_window_after_the_last(
    serve: Callable[[Peer], Awaitable[int]],
) -> None:
    """Thirteen frames a quarter of a window apart: 3.25 windows in all. A timer set once and never moved
    would drop the connection after the first window, with frames still flowing; a check that looked only
    once a window would drop it up to a window late (the last frame lands mid-window, so about 0.75 late)."""
    peer = Peer(frames=13, gap_s=SILENCE_S / 4)
    downs, reasons, heard = await _watch(peer, await serve(peer), until_s=5.0)
    assert len(heard) == 13
    assert len(downs) == 1
    quiet_for = downs[0] - heard[-1]
    assert SILENCE_S <= quiet_for <= SILENCE_S + 0.25, f"dropped {quiet_for:.2f}s after the last frame"
    assert reasons == [f"nothing heard for {SILENCE_S:g} s: dropping the connection"]
    assert peer.connections == 1
