"""The blocking client, on the standard library's `http.client`.

Why `http.client` and not a private event loop running the async client in a thread: a blocking call
that blocks is the simplest thing that works everywhere (scripts, threads, forked workers, inside another
framework's event loop), needs no thread to start or stop, and adds no dependency. The protocol itself
lives in `_http` and is shared with the async client, so only the byte moving is written twice.

One keep-alive connection per Client, used under a lock: calls from several threads are safe but take
turns; use one Client per thread for parallel requests.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Literal, overload
from urllib.parse import urlsplit

from replog.client import _http
from replog.client._paging import PAGE_SIZE, POLL_MIN_S, check_paging, last_index, next_poll_delay
from replog.client.errors import ReplogClientError
from replog.client.results import (
    AppendResult,
    BatchResult,
    Faults,
    MasterHealth,
    Message,
    SecondaryHealth,
    parse_append,
    parse_batch,
    parse_faults,
    parse_health,
    parse_messages,
)
from replog.client.retry import RetryPolicy

__all__ = ["Client"]


class _Retry(Exception):
    """No answer, in a way that a new attempt may fix."""


class Client:
    """A blocking client of one replog node (the master, unless you only read or set faults).

    `url` defaults to $REPLOG_URL, then http://127.0.0.1:7000; `token` (default $REPLOG_TOKEN) is sent as a
    Bearer token. `timeout` bounds each socket wait in seconds (None: forever); an append with `timeout_ms`
    waits at least that long plus a grace period.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        timeout: float | None = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.url = _http.resolve_url(url)
        self._headers = _http.headers(token)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        parts = urlsplit(self.url)
        self._prefix = parts.path
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------- lifecycle

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # --------------------------------------------------------------- appends

    def append(
        self, msg: str, w: int | None = None, request_id: str | None = None, timeout_ms: int | None = None
    ) -> AppendResult:
        """Append one message and wait until `w` nodes hold it (`w=None`: the server's default_w)."""
        call = _http.append_call(
            [msg], batch=False, w=w, request_id=request_id, timeout_ms=timeout_ms, timeout=self.timeout
        )
        return parse_append(self._send(call))

    def append_many(
        self,
        msgs: Iterable[str],
        w: int | None = None,
        request_id: str | None = None,
        timeout_ms: int | None = None,
    ) -> BatchResult:
        """Append messages atomically as consecutive indexes, in order, in one request."""
        call = _http.append_call(
            list(msgs), batch=True, w=w, request_id=request_id, timeout_ms=timeout_ms, timeout=self.timeout
        )
        return parse_batch(self._send(call))

    # ------------------------------------------------------------------ reads

    @overload
    def messages(self, from_: int = 1, limit: int | None = None, detail: Literal[False] = False) -> list[str]: ...

    @overload
    def messages(self, from_: int = 1, limit: int | None = None, *, detail: Literal[True]) -> list[Message]: ...

    def messages(self, from_: int = 1, limit: int | None = None, detail: bool = False) -> list[str] | list[Message]:
        """Messages from index `from_` on (at most `limit`); `detail=True` gives Message(index, msg) items."""
        # Always the detailed shape: one parser checks both, and the index is there for paging.
        data = self._send(_http.get_call(_http.messages_path(from_, limit, detail=True), self.timeout))
        page = parse_messages(data)
        return page if detail else [m.msg for m in page]

    def iter_messages(self, from_: int = 1, page_size: int = PAGE_SIZE) -> Iterator[Message]:
        """Every message from `from_` to the current end, fetched a page at a time so memory stays bounded."""
        check_paging(page_size)
        start = from_
        while True:
            page = self.messages(start, page_size, detail=True)
            yield from page
            if len(page) < page_size:
                return
            start = page[-1].index + 1

    def tail(
        self, from_: int | None = None, poll_interval: float = 1.0, page_size: int = PAGE_SIZE
    ) -> Iterator[Message]:
        """Follow the log forever: existing messages from `from_`, then each new one as it appears.

        `from_=None` starts after the current end. Polls GET /messages, at most `poll_interval` seconds apart.
        """
        check_paging(page_size, poll_interval)
        start = self.last_index() + 1 if from_ is None else from_
        delay = POLL_MIN_S
        while True:
            page = self.messages(start, page_size, detail=True)
            yield from page
            if page:
                start = page[-1].index + 1
            if len(page) < page_size:
                delay = next_poll_delay(delay, bool(page), poll_interval)
                time.sleep(delay)  # why: tail polls; the server has no push channel for new messages

    def last_index(self) -> int:
        """The newest index this node serves (the master's last synced entry, a secondary's contiguous prefix)."""
        return last_index(self._send(_http.get_call("/health", self.timeout)))

    def health(self) -> MasterHealth:
        """The master's view of the cluster; raises ReplogClientError if this URL is not the master."""
        health = self.node_health()
        if not isinstance(health, MasterHealth):
            raise ReplogClientError(f"{self.url} is secondary {health.id}, not the master")
        return health

    def node_health(self) -> MasterHealth | SecondaryHealth:
        """/health of whichever node this URL is."""
        return parse_health(self._send(_http.get_call("/health", self.timeout)))

    # ----------------------------------------------------------------- faults

    def faults(self) -> Faults:
        """The faults a secondary injects now (this client's URL must be a secondary's)."""
        return parse_faults(self._send(_http.faults_call({}, self.timeout)))

    def set_faults(
        self,
        *,
        error_after_append: float | None = None,
        delay_ms: tuple[int, int] | None = None,
        internal_looping: float | None = None,
        server_unavailable: float | None = None,
    ) -> Faults:
        """Change the faults named (others keep their value); returns the faults now in force."""
        settings = _http.fault_settings(error_after_append, delay_ms, internal_looping, server_unavailable)
        return parse_faults(self._send(_http.faults_call(settings, self.timeout)))

    # -------------------------------------------------------------- transport

    def _send(self, call: _http.Call) -> Any:
        """Send with retries on connection failures; decode the answer or raise the server's error."""
        delays = self.retry.delays()
        attempt = 1
        while True:
            try:
                status, body, retry_after = self._once(call, attempt)
            except _Retry as failure:
                delay = next(delays, None)
                if delay is None:
                    raise _http.connection_failed(self.url, failure.__cause__ or failure, attempt) from None
                time.sleep(delay)  # why: backoff between connection retries
                attempt += 1
                continue
            return _http.decode(status, body, retry_after)

    def _once(self, call: _http.Call, attempt: int) -> tuple[int, bytes, str | None]:
        with self._lock:
            conn = self._connect(call.timeout)
            try:
                conn.request(call.method, self._prefix + call.path, body=call.body, headers=self._headers)
                response = conn.getresponse()
                body = response.read()
            except TimeoutError:
                self._drop()
                raise _http.connection_failed(self.url, f"no answer within {call.timeout} s", attempt) from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise _Retry() from exc
            if response.will_close:
                self._drop()
            return response.status, body, response.getheader("Retry-After")

    def _connect(self, timeout: float | None) -> http.client.HTTPConnection:
        """The kept-alive connection, or a new one; a failure to connect (even a timeout) is retried."""
        if self._conn is None:
            factory = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = factory(self._host, self._port, timeout=timeout)
            try:
                conn.connect()
            except OSError as exc:
                conn.close()
                raise _Retry() from exc
            self._conn = conn
        elif self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
