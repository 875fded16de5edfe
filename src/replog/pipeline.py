"""PipelinedClient: one WebSocket to the master's `/stream`, many appends in flight.

`append_nowait` queues an append and returns a future for its index; everything queued in
one event-loop turn leaves as one frame, and the master answers in frames too. This is how a
single Python process drives tens of thousands of appends per second: the per-message cost is
a list append and a future, not an HTTP request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from types import TracebackType

import aiohttp

from replog.client._http import headers, resolve_urls
from replog.client.errors import ConnectionFailed, Unauthorized
from replog.client.tls import context_from_env
from replog.errors import ProtocolError
from replog.wire.stream_codec import decode_answers, encode_appends

__all__ = ["PipelineError", "PipelinedAppend", "PipelinedClient"]


class PipelineError(Exception):
    """The master refused one append; `status` is the HTTP status it would have answered."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class PipelinedAppend:
    """The answer to one pipelined append."""

    __slots__ = ("duplicate", "index")

    def __init__(self, index: int, duplicate: bool) -> None:
        self.index = index
        self.duplicate = duplicate


class PipelinedClient:
    def __init__(
        self,
        url: str = "http://127.0.0.1:7000",
        *,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        token: str | None = None,
    ) -> None:
        """One node's URL (`host:port` will do; an https URL makes it wss, verified as `replog.client.Client`
        verifies, with the same arguments). With failover it must be the leader's: a follower refuses appends.
        `token` is the cluster's client_token, when it has one (else $REPLOG_TOKEN, as the other clients)."""
        urls = resolve_urls(url)
        if len(urls) != 1:
            raise ValueError(f"PipelinedClient streams to one node, not {len(urls)}: {url!r}")
        self._url = urls[0] + "/stream"
        self._headers = {k: v for k, v in headers(token).items() if k == "Authorization"}  # token=, else $REPLOG_TOKEN
        self._ssl = ssl_context or context_from_env(ca_file, cert_file, key_file)
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending: list[tuple[int, int, str, str | None]] = []
        self._futures: dict[int, asyncio.Future[PipelinedAppend]] = {}
        self._next_id = 1
        self._flush_scheduled = False
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PipelinedClient:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the WebSocket; ConnectionFailed (with nothing left open) if the node cannot be reached."""
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl or True))
        try:
            self._ws = await session.ws_connect(self._url, max_msg_size=64 << 20, headers=self._headers)
        except aiohttp.WSServerHandshakeError as exc:
            await session.close()
            if exc.status == 401:
                needs = f"{self._url} needs the client_token as a Bearer token (token=)"
                raise Unauthorized(needs, status=401) from None
            raise ConnectionFailed(f"cannot open {self._url}: {exc.status} {exc.message}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            await session.close()
            raise ConnectionFailed(f"cannot open {self._url}: {exc}") from exc
        except BaseException:
            await session.close()
            raise
        self._session = session
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def close(self) -> None:
        try:
            if self._reader:
                self._reader.cancel()
                await asyncio.gather(self._reader, return_exceptions=True)
            if self._ws:
                await self._ws.close()
        finally:  # Whatever the WebSocket's or the session's close did, the waiting appends are let go.
            try:
                if self._session:
                    await self._session.close()
            finally:
                self._fail_all(ConnectionError("pipelined client closed"))

    def append_nowait(self, msg: str, w: int = 1, request_id: str | None = None) -> asyncio.Future[PipelinedAppend]:
        """Queue one append; the future gives its index once `w` copies exist."""
        if self._ws is None or self._ws.closed:
            raise ConnectionError("not connected to the master's /stream")
        correlation_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[PipelinedAppend] = asyncio.get_running_loop().create_future()
        self._futures[correlation_id] = future
        self._pending.append((correlation_id, w, msg, request_id))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return future

    async def append(self, msg: str, w: int = 1, request_id: str | None = None) -> PipelinedAppend:
        return await self.append_nowait(msg, w, request_id)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._pending or self._ws is None:
            return
        frame, self._pending = encode_appends(self._pending), []
        send = asyncio.get_running_loop().create_task(self._ws.send_bytes(frame))
        send.add_done_callback(self._on_sent)

    def _on_sent(self, send: asyncio.Task[None]) -> None:
        if not send.cancelled() and send.exception() is not None:
            self._fail_all(ConnectionError(f"sending to the master failed: {send.exception()}"))

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for frame in self._ws:
                if frame.type is not aiohttp.WSMsgType.BINARY:
                    break
                for answer in decode_answers(frame.data):
                    future = self._futures.pop(answer.correlation_id, None)
                    if future is None or future.done():
                        continue
                    if answer.status in (200, 201):
                        future.set_result(PipelinedAppend(answer.index, answer.status == 200))
                    else:
                        future.set_exception(PipelineError(answer.status, answer.error))
        except (ProtocolError, aiohttp.ClientError) as exc:
            self._fail_all(ConnectionError(f"stream from the master broke: {exc}"))
            return
        self._fail_all(ConnectionError("the master closed the stream"))

    def _fail_all(self, error: Exception) -> None:
        futures, self._futures = self._futures, {}
        for future in futures.values():
            if not future.done():
                future.set_exception(error)
                with contextlib.suppress(Exception):
                    future.exception()  # Mark retrieved: a caller that gave up must not log noise.
