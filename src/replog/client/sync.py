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
import random
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, overload
from urllib.parse import urlsplit

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

__all__ = ["Client"]


class _Retry(Exception):
    """No answer, in a way that a new attempt may fix."""


class Client:
    """A blocking client of a replog cluster: one node's URL, or several nodes' URLs to fail over between.

    `url` is one node's URL, several comma-separated in one string, or a list of them; it defaults to
    $REPLOG_URL (which may list several too), then http://127.0.0.1:7000. `token` (default $REPLOG_TOKEN)
    is sent as a Bearer token. `timeout` bounds each socket wait in seconds (None: forever); an append with
    `timeout_ms` waits at least that long plus a grace period.

    With one URL, a request that gets no answer is retried on that node as `retry` allows, and every answer
    is final. With several URLs (or with `failover_timeout` set), a request that gets no answer, or a 503
    "no leader" during an election, is tried on the next node, with the same request_id and `retry`'s
    backoff after each round, until `failover_timeout` seconds (default 10 with several URLs) have passed
    since the call began; then it raises the last error, naming the nodes tried. Any other answer is final,
    read-only (no quorum) included. A call starts at the node that last answered.

    https URLs are verified against `ca_file` (default $REPLOG_CA_FILE, else the system's trust store);
    `cert_file` and `key_file` (default $REPLOG_CERT_FILE, $REPLOG_KEY_FILE) present a client certificate,
    which a cluster with `tls_client_auth: true` requires. `ssl_context` replaces all three.
    """

    def __init__(
        self,
        url: str | Sequence[str] | None = None,
        *,
        token: str | None = None,
        timeout: float | None = 30.0,
        retry: RetryPolicy | None = None,
        failover_timeout: float | None = None,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.urls = _http.resolve_urls(url)
        self.ssl_context = ssl_context or context_from_env(ca_file, cert_file, key_file)
        self.failover_timeout = failover.failover_timeout(failover_timeout, len(self.urls))
        self._headers = _http.headers(token)
        self._token = token
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._nodes = [_Node.parse(u) for u in self.urls]
        self._current = 0
        self._conn: http.client.HTTPConnection | None = None
        self._conn_node = 0
        self._rng = random.Random()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The node a call tries first: the one that last answered (at first, the first URL given)."""
        return self.urls[self._current]

    # ------------------------------------------------------------- lifecycle

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({','.join(self.urls)!r})"

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

    def health(self) -> ClusterHealth:
        """The cluster as its leader sees it: the fixed master's /health, or with failover the leader's (any
        node's URL will do: a follower names its leader, which is asked). Raises ReplogClientError for a fixed
        master's secondary, NoLeader when no leader is known."""
        view = cluster_view(self.node_health(), self.url)
        if not isinstance(view, str):
            return view
        with Client(
            view, token=self._token, timeout=self.timeout, retry=self.retry, ssl_context=self.ssl_context
        ) as leader:
            return as_leader(leader.node_health(), view)

    def node_health(self) -> MasterHealth | SecondaryHealth | ReplicaHealth:
        """/health of whichever node this URL is (with several URLs: of the first that answers; see `url`)."""
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

    # ------------------------------------------------------------- leadership

    def step_down(self) -> StepDown:
        """Hand leadership to the most up-to-date follower (failover on; needs the cluster token).

        Asked of a follower, the request goes to the leader that follower names.
        """
        health = self.node_health()
        if not isinstance(health, ReplicaHealth):
            raise ReplogClientError(f"{self.url} runs without failover: there is no leadership to hand over")
        if health.role != "leader" and health.leader_url:
            with Client(
                health.leader_url, token=self._token, timeout=self.timeout, ssl_context=self.ssl_context
            ) as leader:
                return leader._step_down_here()  # one hop: a node that no longer leads answers 409 itself
        return self._step_down_here()

    def _step_down_here(self) -> StepDown:
        return parse_step_down(self._send(_http.Call("POST", "/admin/step-down", b"", self.timeout)))

    # -------------------------------------------------------------- transport

    def _send(self, call: _http.Call) -> Any:
        """Send, retrying as `failover` decides; decode the answer or raise the server's error."""
        tries = failover.Failover(
            self.urls,
            start=self._current,
            policy=self.retry,
            deadline=self.failover_timeout,
            now=time.monotonic(),
            rng=self._rng,
        )
        while True:
            node = tries.node
            connect_timeout = tries.connect_timeout(call.timeout, time.monotonic())
            try:
                status, body, retry_after = self._once(call, node, connect_timeout, tries.tries + 1)
                if status < 500:
                    self._current = node  # it answers: start there next time
                return _http.decode(status, body, retry_after)
            except _Retry as failure:
                reason: BaseException = failure.__cause__ or failure
            except (NoLeader, ReadOnly) as refusal:
                if not tries.retries_no_leader():
                    raise
                reason = refusal
            step = tries.failed(reason, time.monotonic())
            if isinstance(step, ReplogClientError):
                raise step from None
            time.sleep(step.delay)  # why: backoff between retries; a cluster in trouble is not hammered

    def _once(
        self, call: _http.Call, node: int, connect_timeout: float | None, attempt: int
    ) -> tuple[int, bytes, str | None]:
        with self._lock:
            conn = self._connect(node, connect_timeout, call.timeout)
            try:
                conn.request(call.method, self._nodes[node].prefix + call.path, body=call.body, headers=self._headers)
                response = conn.getresponse()
                body = response.read()
            except TimeoutError:
                self._drop()
                raise _http.connection_failed(self.urls[node], f"no answer within {call.timeout} s", attempt) from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise _Retry() from exc
            if response.will_close:
                self._drop()
            return response.status, body, response.getheader("Retry-After")

    def _connect(self, node: int, connect_timeout: float | None, timeout: float | None) -> http.client.HTTPConnection:
        """The kept-alive connection to `node`, or a new one; a failure to connect (even a timeout) is retried."""
        if self._conn is not None and self._conn_node != node:
            self._drop()
        if self._conn is None:
            target = self._nodes[node]
            conn: http.client.HTTPConnection
            if target.https:
                conn = http.client.HTTPSConnection(
                    target.host, target.port, timeout=connect_timeout, context=self.ssl_context
                )
            else:
                conn = http.client.HTTPConnection(target.host, target.port, timeout=connect_timeout)
            try:
                conn.connect()
            except OSError as exc:
                conn.close()
                raise _Retry() from exc
            self._conn, self._conn_node = conn, node
        if self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass(frozen=True, slots=True)
class _Node:
    """What a connection to one node needs, parsed from its URL once."""

    prefix: str
    https: bool
    host: str
    port: int | None

    @classmethod
    def parse(cls, url: str) -> _Node:
        parts = urlsplit(url)
        return cls(parts.path, parts.scheme == "https", parts.hostname or "", parts.port)
