"""One persistent replication link from the master to one secondary.

The master dials `ws://<secondary>/replication` (`wss://` with TLS) and keeps that WebSocket for as long as it
lives. A reader task feeds decoded frames to the master's core; `send` queues encoded frames
for a writer task, which awaits the socket's drain, so a slow secondary pushes back on its
own link only. When the link fails, the link waits a backoff delay and dials again, forever.
The wait ends early when the secondary announces itself (`wake`, from POST /join) or when a
heartbeat-period TCP probe finds its port open again.

With `silence_s`, a connection on which nothing has been heard for that long is dropped and dialled
again. A peer answers every heartbeat, so silence means the connection is dead without having been
closed: a host cut off or rebooted drops packets instead of resetting, and TCP alone would keep
retransmitting into it for many minutes, long after the network has healed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import aiohttp

from replog.core.messages import Message
from replog.errors import ProtocolError
from replog.net.backoff import delay_ms
from replog.net.tls import dial_failure
from replog.wire import codec

__all__ = ["FRAME_BYTES_MAX", "MASTER_INSTANCE_HEADER", "LinkCallbacks", "PeerLink"]

log = logging.getLogger("replog.link")
_CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)

FRAME_BYTES_MAX = 64 << 20
# Sent at the upgrade: a random id per master process, so a secondary can tell the same master
# redialling (replace the stale connection) from a second master (refused while the first is live).
MASTER_INSTANCE_HEADER = "X-Replog-Master-Instance"


class LinkCallbacks:
    """What a link reports to its master; each call runs the core and flushes its outputs."""

    def __init__(
        self,
        connected: Callable[[int], None],
        disconnected: Callable[[int], None],
        message: Callable[[int, Message], None],
    ) -> None:
        self.connected = connected
        self.disconnected = disconnected
        self.message = message


class PeerLink:
    def __init__(
        self,
        peer: int,
        address: str,
        *,
        session: aiohttp.ClientSession,
        callbacks: LinkCallbacks,
        connection_timeout_s: float,
        backoff_base_ms: int,
        backoff_max_ms: int,
        probe_interval_s: float,
        headers: dict[str, str],
        rng: random.Random,
        scheme: str = "http",
        name: str = "",
        silence_s: float | None = None,
    ) -> None:
        self.peer = peer
        self.address = address
        self.url = f"{scheme}://{address}"
        self.name = name or f"node {peer}"
        self._session = session
        self._callbacks = callbacks
        self._timeout_s = connection_timeout_s
        self._backoff = (backoff_base_ms, backoff_max_ms)
        self._probe_interval_s = probe_interval_s
        self._silence_s = silence_s
        # A probe only says "the port is open": worth it after a dial found nobody listening, not after one
        # that got an answer it could not use (a certificate from another CA, a refusal), or it redials at once.
        self._probe_helps = True
        self._headers = headers
        self._rng = rng
        self._outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False  # see stop()
        self.reconnects = 0  # connections made, for /metrics and /health
        self.retries = 0  # backoff waits begun
        self.last_error = ""
        self._dials_failed_since_up = 0  # see shown_error()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"link-{self.peer}")

    async def stop(self) -> None:
        # Not the cancel alone: Python 3.11's wait_for swallows a cancel that lands as its inner future
        # completes (a probe or dial to a local port completes at once), and the loop would then dial
        # forever while stop() waited for it. The loop checks this flag after every wait_for.
        self._stopping = True
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def send(self, message: Message) -> None:
        if self._ws is not None:
            self._outbox.put_nowait(codec.encode(message))

    def close(self, reason: str) -> None:
        """Close after what is queued has been written."""
        if self._ws is not None:
            self.last_error = reason
            self._outbox.put_nowait(None)

    def shown_error(self, refusal: str) -> str:
        """The peer's error for /health: the refusal of its last Hello, unless a dial has failed since. The
        peer is then out of reach (restarting, say), and the older refusal would hide that."""
        return refusal if refusal and not self._dials_failed_since_up else self.last_error

    def wake(self) -> None:
        """The secondary says it is up: skip the rest of the backoff wait."""
        self._wake.set()

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            self._wake.clear()
            healthy_session = await self._connect_and_serve()
            attempt = 0 if healthy_session else attempt + 1
            delay = delay_ms(max(attempt - 1, 0), self._rng, base_ms=self._backoff[0], cap_ms=self._backoff[1])
            self.retries += 1
            log.info("link %d to %s: retry in %d ms (attempt %d)", self.peer, self.address, delay, attempt)
            await self._wait_before_retry(delay / 1000)

    async def _connect_and_serve(self) -> bool:
        """One connection's life; True when it got as far as exchanging frames."""
        try:
            ws = await asyncio.wait_for(
                self._session.ws_connect(
                    f"{self.url}/replication",
                    headers=self._headers,
                    max_msg_size=FRAME_BYTES_MAX,
                    autoping=True,
                ),
                self._timeout_s,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._dials_failed_since_up += 1
            self._note_failure(dial_failure(exc, tls=self.url.startswith("https:")))
            self._probe_helps = not _reached_the_port(exc)
            return False
        if self._stopping:  # stopped while dialling (see stop())
            await ws.close()
            return False
        self._ws = ws
        self._dials_failed_since_up = 0
        self.reconnects += 1
        self._outbox = asyncio.Queue()
        log.info("link %d to %s: up", self.peer, self.address)
        self._callbacks.connected(self.peer)
        writer = asyncio.get_running_loop().create_task(self._write(ws))
        heard = False
        try:
            heard = await self._read(ws)
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            self._ws = None
            await ws.close()
            log.warning("link %d to %s: down (%s)", self.peer, self.address, self.last_error or "closed")
            self._callbacks.disconnected(self.peer)
        return heard

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        heard = False
        self.last_error = ""
        silence = _Silence(self._silence_s)
        try:
            async with silence:
                while True:
                    frame = await ws.receive()
                    silence.heard()
                    if frame.type in _CLOSED:
                        break
                    if frame.type is not aiohttp.WSMsgType.BINARY:
                        self.last_error = f"unexpected {frame.type.name} frame"
                        break
                    heard = True
                    self._callbacks.message(self.peer, codec.decode(frame.data))
        except ProtocolError as exc:
            self.last_error = f"protocol error: {exc}"
        except (aiohttp.ClientError, OSError) as exc:  # OSError includes the silence's TimeoutError
            if silence.expired():
                self.last_error = f"nothing heard for {self._silence_s:g} s: dropping the connection"
            else:
                self.last_error = _describe(exc)
        return heard

    async def _write(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            while (frame := await self._outbox.get()) is not None:
                await ws.send_bytes(frame)
        except (aiohttp.ClientError, OSError, ConnectionError) as exc:
            self.last_error = _describe(exc)
        await ws.close()

    async def _wait_before_retry(self, delay_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay_s
        while (remaining := deadline - loop.time()) > 0 and not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), min(remaining, self._probe_interval_s))
                log.info("link %d: secondary announced itself, dialling now", self.peer)
                return
            except TimeoutError:
                pass
            if self._probe_helps and deadline - loop.time() > 0 and await self._probe():
                log.info("link %d: heartbeat probe found %s listening, dialling now", self.peer, self.address)
                return

    async def _probe(self) -> bool:
        host, _, port = self.address.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), self._timeout_s)
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True

    def _note_failure(self, error: str) -> None:
        """One WARNING per distinct reason, however often the link redials."""
        if error != self.last_error:
            log.warning("link %d: cannot reach %s at %s: %s", self.peer, self.name, self.url, error)
        self.last_error = error


class _Silence:
    """Raises TimeoutError in the block once nothing has been heard for `silence_s` (None: never).

    A frame costs a clock read. `ws.receive(timeout=...)` armed and cancelled a timer per frame instead
    (8-10 us each here, a frame per acknowledgement). One check is pending at a time: due `silence_s`
    after the newest frame it knows of, it moves itself to `silence_s` after the newest frame heard, and
    only when none came cancels the block. The bound stays exact: TCP_USER_TIMEOUT (net/sockets.py) is
    the same length, and the silence must be what ends a link to a cut host, so that it is named."""

    def __init__(self, silence_s: float | None) -> None:
        self._silence_s = silence_s
        self._timeout = asyncio.timeout(None)
        self._loop = asyncio.get_running_loop()
        self._heard_at = self._loop.time()
        self._check: asyncio.TimerHandle | None = None

    def expired(self) -> bool:
        return self._timeout.expired()

    async def __aenter__(self) -> _Silence:
        await self._timeout.__aenter__()
        if self._silence_s is not None:
            self._heard_at = self._loop.time()
            self._check = self._loop.call_at(self._heard_at + self._silence_s, self._check_silence)
        return self

    async def __aexit__(self, *exc_info: object) -> bool | None:
        if self._check is not None:
            self._check.cancel()
        return await self._timeout.__aexit__(*exc_info)  # type: ignore[arg-type]

    def heard(self) -> None:
        self._heard_at = self._loop.time()

    def _check_silence(self) -> None:
        assert self._silence_s is not None
        due = self._heard_at + self._silence_s
        if due > self._loop.time():
            self._check = self._loop.call_at(due, self._check_silence)
        else:
            self._timeout.reschedule(due)  # due already: the block is cancelled at once, as a TimeoutError


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _reached_the_port(exc: BaseException) -> bool:
    """Whether a failed dial got as far as a listening peer (TLS or HTTP said no) rather than finding none."""
    if isinstance(exc, aiohttp.ClientSSLError):
        return True  # why: a subclass of ClientConnectorError, but the TCP connection was made
    return not isinstance(exc, aiohttp.ClientConnectorError | TimeoutError | ConnectionRefusedError)
