"""The asyncio client, on aiohttp (already the server's dependency, so it costs nothing extra).

Same methods, arguments, results and errors as the blocking `Client`; the protocol is shared in `_http`.
Use it as `async with AsyncClient() as client:` so its connection pool is closed; a session passed in
is borrowed and left open.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Any, Literal, overload

import aiohttp

from replog.client import _http, failover
from replog.client._paging import PAGE_SIZE, POLL_MIN_S, check_paging, last_index, next_poll_delay
from replog.client.errors import NoLeader, ReadOnly, ReplogClientError
from replog.client.results import (
    AppendResult,
    BatchResult,
    ClusterHealth,
    Faults,
    MasterHealth,
    Message,
    ReplicaHealth,
    SecondaryHealth,
    StepDown,
    as_leader,
    cluster_view,
    parse_append,
    parse_batch,
    parse_faults,
    parse_health,
    parse_messages,
    parse_step_down,
)
from replog.client.retry import RetryPolicy
from replog.client.tls import context_from_env

__all__ = ["AsyncClient"]

# A connect that times out is a failure to reach the node and is retried; a read that times out is not
# (the node took the request and is slow). ConnectionTimeoutError exists from aiohttp 3.10 on.
_CONNECT_TIMEOUT: tuple[type[BaseException], ...] = tuple(
    t for t in (getattr(aiohttp, "ConnectionTimeoutError", None),) if t is not None
)
_RETRYABLE: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientOSError,
    aiohttp.ClientPayloadError,
    *_CONNECT_TIMEOUT,
)


class _Retry(Exception):
    """No answer, in a way that a new attempt may fix."""


class AsyncClient:
    """An asyncio client of a replog cluster; see `replog.client.Client` for the arguments and each method."""

    def __init__(
        self,
        url: str | Sequence[str] | None = None,
        *,
        token: str | None = None,
        timeout: float | None = 30.0,
        retry: RetryPolicy | None = None,
        failover_timeout: float | None = None,
        session: aiohttp.ClientSession | None = None,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """A `session` passed in is used as it is: its connector's TLS settings apply, not ca_file and the rest."""
        self.urls = _http.resolve_urls(url)
        self.ssl_context = ssl_context or context_from_env(ca_file, cert_file, key_file)
        self.failover_timeout = failover.failover_timeout(failover_timeout, len(self.urls))
        self._headers = _http.headers(token)
        self._token = token
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._current = 0
        self._rng = random.Random()
        self._session = session
        self._owns_session = session is None

    @property
    def url(self) -> str:
        """The node a call tries first: the one that last answered (at first, the first URL given)."""
        return self.urls[self._current]

    # ------------------------------------------------------------- lifecycle

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncClient({','.join(self.urls)!r})"

    # --------------------------------------------------------------- appends

    async def append(
        self, msg: str, w: int | None = None, request_id: str | None = None, timeout_ms: int | None = None
    ) -> AppendResult:
        call = _http.append_call(
            [msg], batch=False, w=w, request_id=request_id, timeout_ms=timeout_ms, timeout=self.timeout
        )
        return parse_append(await self._send(call))

    async def append_many(
        self,
        msgs: Iterable[str],
        w: int | None = None,
        request_id: str | None = None,
        timeout_ms: int | None = None,
    ) -> BatchResult:
        call = _http.append_call(
            list(msgs), batch=True, w=w, request_id=request_id, timeout_ms=timeout_ms, timeout=self.timeout
        )
        return parse_batch(await self._send(call))

    # ------------------------------------------------------------------ reads

    @overload
    async def messages(self, from_: int = 1, limit: int | None = None, detail: Literal[False] = False) -> list[str]: ...

    @overload
    async def messages(self, from_: int = 1, limit: int | None = None, *, detail: Literal[True]) -> list[Message]: ...

    async def messages(
        self, from_: int = 1, limit: int | None = None, detail: bool = False
    ) -> list[str] | list[Message]:
        data = await self._send(_http.get_call(_http.messages_path(from_, limit, detail=True), self.timeout))
        page = parse_messages(data)
        return page if detail else [m.msg for m in page]

    async def iter_messages(self, from_: int = 1, page_size: int = PAGE_SIZE) -> AsyncIterator[Message]:
        check_paging(page_size)
        start = from_
        while True:
            page = await self.messages(start, page_size, detail=True)
            for message in page:
                yield message
            if len(page) < page_size:
                return
            start = page[-1].index + 1

    async def tail(
        self, from_: int | None = None, poll_interval: float = 1.0, page_size: int = PAGE_SIZE
    ) -> AsyncIterator[Message]:
        check_paging(page_size, poll_interval)
        start = await self.last_index() + 1 if from_ is None else from_
        delay = POLL_MIN_S
        while True:
            page = await self.messages(start, page_size, detail=True)
            for message in page:
                yield message
            if page:
                start = page[-1].index + 1
            if len(page) < page_size:
                delay = next_poll_delay(delay, bool(page), poll_interval)
                await asyncio.sleep(delay)  # why: tail polls; the server has no push channel for new messages

    async def last_index(self) -> int:
        return last_index(await self._send(_http.get_call("/health", self.timeout)))

    async def health(self) -> ClusterHealth:
        view = cluster_view(await self.node_health(), self.url)
        if not isinstance(view, str):
            return view
        async with AsyncClient(
            view, token=self._token, timeout=self.timeout, retry=self.retry, ssl_context=self.ssl_context
        ) as leader:
            return as_leader(await leader.node_health(), view)

    async def node_health(self) -> MasterHealth | SecondaryHealth | ReplicaHealth:
        return parse_health(await self._send(_http.get_call("/health", self.timeout)))

    # ----------------------------------------------------------------- faults

    async def faults(self) -> Faults:
        return parse_faults(await self._send(_http.faults_call({}, self.timeout)))

    async def set_faults(
        self,
        *,
        error_after_append: float | None = None,
        delay_ms: tuple[int, int] | None = None,
        internal_looping: float | None = None,
        server_unavailable: float | None = None,
    ) -> Faults:
        settings = _http.fault_settings(error_after_append, delay_ms, internal_looping, server_unavailable)
        return parse_faults(await self._send(_http.faults_call(settings, self.timeout)))

    # ----------------------------------------------------------- leadership

    async def step_down(self) -> StepDown:
        """Hand leadership to the most up-to-date follower (failover on; needs the cluster token).

        Asked of a follower, the request goes to the leader that follower names.
        """
        health = await self.node_health()
        if not isinstance(health, ReplicaHealth):
            raise ReplogClientError(f"{self.url} runs without failover: there is no leadership to hand over")
        if health.role != "leader" and health.leader_url:
            async with AsyncClient(
                health.leader_url, token=self._token, timeout=self.timeout, ssl_context=self.ssl_context
            ) as leader:
                return await leader._step_down_here()  # one hop: a node that no longer leads answers 409 itself
        return await self._step_down_here()

    async def _step_down_here(self) -> StepDown:
        return parse_step_down(await self._send(_http.Call("POST", "/admin/step-down", b"", self.timeout)))

    # -------------------------------------------------------------- transport

    async def _send(self, call: _http.Call) -> Any:
        """Send, retrying as `failover` decides; decode the answer or raise the server's error."""
        loop = asyncio.get_running_loop()
        tries = failover.Failover(
            self.urls,
            start=self._current,
            policy=self.retry,
            deadline=self.failover_timeout,
            now=loop.time(),
            rng=self._rng,
        )
        while True:
            node = tries.node
            connect_timeout = tries.connect_timeout(call.timeout, loop.time())
            try:
                status, body, retry_after = await self._once(call, node, connect_timeout, tries.tries + 1)
                if status < 500:
                    self._current = node  # it answers: start there next time
                return _http.decode(status, body, retry_after)
            except _Retry as failure:
                reason: BaseException = failure.__cause__ or failure
            except (NoLeader, ReadOnly) as refusal:
                if not tries.retries_no_leader():
                    raise
                reason = refusal
            step = tries.failed(reason, loop.time())
            if isinstance(step, ReplogClientError):
                raise step from None
            await asyncio.sleep(step.delay)  # why: backoff between retries; a cluster in trouble is not hammered

    async def _once(
        self, call: _http.Call, node: int, connect_timeout: float | None, attempt: int
    ) -> tuple[int, bytes, str | None]:
        url = self.urls[node]
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=call.timeout)
        try:
            async with self._http().request(
                call.method, url + call.path, data=call.body, headers=self._headers, timeout=timeout
            ) as response:
                return response.status, await response.read(), response.headers.get("Retry-After")
        except _RETRYABLE as exc:
            raise _Retry() from exc
        except TimeoutError:
            raise _http.connection_failed(url, f"no answer within {call.timeout} s", attempt) from None
        except aiohttp.ClientError as exc:
            raise _http.connection_failed(url, exc, attempt) from None

    def _http(self) -> aiohttp.ClientSession:
        """Created on first use, inside the running loop, as aiohttp requires."""
        if self._session is None:
            tls = self.ssl_context if self.ssl_context is not None else True
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls))
        return self._session
