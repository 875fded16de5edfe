"""The one load generator every system in `replog bench` is driven by, so the rows compare.

Each run is bounded by a message count and a deadline, whichever comes first, and records one
latency per message. HTTP load uses a bare asyncio protocol with a pre-built request (a
keep-alive connection per client): a framework HTTP client would cost more CPU than the server
under test, and on two cores that would measure the client.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoadResult", "run_concurrent", "run_http"]


@dataclass
class LoadResult:
    messages: int = 0
    seconds: float = 0.0
    errors: int = 0
    latencies_s: list[float] = field(default_factory=list)
    cpu_s: float | None = None  # CPU of the system under test over the run (bench/cpu.py), when measured

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float:
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000


Progress = Callable[[int], None]


async def run_concurrent(
    operation: Callable[[int], Awaitable[None]],
    *,
    concurrency: int,
    count: int,
    deadline_s: float,
    progress: Progress | None = None,
    stop: asyncio.Future[Any] | None = None,
) -> LoadResult:
    """Run `operation(i)` for i < count from `concurrency` workers until done, the deadline, or `stop`."""
    result = LoadResult()
    started = time.perf_counter()
    stop_at = started + deadline_s
    next_number = 0

    async def worker() -> None:
        nonlocal next_number
        while next_number < count and time.perf_counter() < stop_at and not (stop is not None and stop.done()):
            number, next_number = next_number, next_number + 1
            begun = time.perf_counter()
            try:
                await operation(number)
            except Exception:
                result.errors += 1
                continue
            result.latencies_s.append(time.perf_counter() - begun)
            result.messages += 1
            if progress is not None and result.messages % 1000 == 0:
                progress(result.messages)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


class _HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that sends a request and parses the status line and body length."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = b""
        self._waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection lost"))

    def request(self, raw: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self._buffer[:end].lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at) if b"\r\n" in head[at:] else None]) if at >= 0 else 0
        if len(self._buffer) < end + 4 + length:
            return
        status = int(self._buffer[9:12])
        self._buffer = self._buffer[end + 4 + length :]
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(status)


def http_post(path: str, body: dict[str, object]) -> bytes:
    payload = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


async def run_http(
    port: int,
    make_request: Callable[[int], bytes],
    *,
    concurrency: int,
    count: int,
    deadline_s: float,
    expect_status: int = 201,
    progress: Progress | None = None,
    stop: asyncio.Future[Any] | None = None,
    tls: ssl.SSLContext | None = None,
) -> LoadResult:
    loop = asyncio.get_running_loop()
    connections: list[_HttpConnection] = []
    for _ in range(concurrency):
        _, connection = await loop.create_connection(_HttpConnection, "127.0.0.1", port, ssl=tls)
        connections.append(connection)
    idle = list(connections)

    async def one(number: int) -> None:
        connection = idle.pop()
        try:
            status = await connection.request(make_request(number))
        finally:
            idle.append(connection)
        if status != expect_status:
            raise RuntimeError(f"HTTP {status}")

    try:
        return await run_concurrent(one, concurrency=concurrency, count=count, deadline_s=deadline_s, progress=progress)
    finally:
        for connection in connections:
            if connection.transport is not None:
                connection.transport.close()
