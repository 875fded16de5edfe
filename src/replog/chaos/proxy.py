"""A small TCP fault proxy of our own, between the master and one secondary.

The master dials the proxy's port; the proxy dials the secondary's real port. It can:

- drop: reset every open connection, and refuse new ones (accept, then reset) for a while;
- delay: hold every chunk for a fixed time before passing it on, both ways, keeping order;
- blackhole: accept connections and read them, but forward nothing either way (a partition), or
  nothing in one direction only (`upstream`: what the dialler sends; `downstream`: what it hears back);
- heal: back to a plain pipe.

Bytes swallowed by a blackhole cannot be given back without corrupting the stream, so a connection
that lost bytes is reset when the partition heals, as a real peer would after its retransmissions
give up. Only 127.0.0.1 is ever dialled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

__all__ = ["FaultProxy"]

log = logging.getLogger("replog.chaos.proxy")

CHUNK_BYTES = 64 * 1024
QUEUE_CHUNKS = 256  # bounds what one direction holds while it delays
DIAL_TIMEOUT_S = 2.0


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tainted: bool = False  # lost bytes to a blackhole: must be reset at heal
    lost: set[bool] = field(default_factory=set)  # directions (upstream?) that lost bytes: stay cut until reset
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def reset(self) -> None:
        """Abort both sides at once (an RST, not a polite FIN), and stop the pumps."""
        for writer in (self.client, self.upstream):
            if writer is not None:
                writer.transport.abort()
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()


class FaultProxy:
    def __init__(self, name: str, target_port: int, *, host: str = "127.0.0.1", listen_port: int = 0) -> None:
        self.name = name
        self.host = host
        self.target_port = target_port
        self._listen_port = listen_port
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._refusing = False
        self._cut_up = False  # bytes from the dialler to the target are swallowed
        self._cut_down = False  # bytes from the target back to the dialler are swallowed
        self._delay_s = 0.0

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"proxy {self.name} is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self._listen_port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.reset()
        tasks = [task for c in self._connections for task in c.tasks]
        await asyncio.gather(*tasks, return_exceptions=True)
        self._connections.clear()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    # ------------------------------------------------------------------ faults

    def drop(self, refuse: bool = True) -> None:
        self._refusing = refuse
        for connection in list(self._connections):
            connection.reset()

    def blackhole(self, *, upstream: bool = True, downstream: bool = True) -> None:
        self._cut_up = self._cut_up or upstream
        self._cut_down = self._cut_down or downstream

    def set_delay(self, delay_ms: int) -> None:
        self._delay_s = delay_ms / 1000

    def heal(self) -> None:
        self._refusing = False
        self._cut_up = False  # bytes from the dialler to the target are swallowed
        self._cut_down = False  # bytes from the target back to the dialler are swallowed
        self._delay_s = 0.0
        for connection in list(self._connections):
            if connection.tainted:
                connection.reset()

    # -------------------------------------------------------------- forwarding

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(writer)
        if self._refusing:
            connection.reset()
            return
        self._connections.add(connection)
        try:
            if self._cut_up and self._cut_down:
                connection.tainted = True
                await self._swallow(reader)
                return
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.target_port), DIAL_TIMEOUT_S
                )
            except (OSError, TimeoutError):
                return
            connection.upstream = up_writer
            connection.tasks = [
                asyncio.create_task(self._pipe(reader, up_writer, connection, upstream=True)),
                asyncio.create_task(self._pipe(up_reader, writer, connection, upstream=False)),
            ]
            await asyncio.gather(*connection.tasks, return_exceptions=True)
        finally:
            connection.reset()
            self._connections.discard(connection)

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        """A connection made during a partition: read and discard until reset or closed."""
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while await reader.read(CHUNK_BYTES):
                pass

    def _cut(self, upstream: bool) -> bool:
        return self._cut_up if upstream else self._cut_down

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: _Connection, *, upstream: bool
    ) -> None:
        """One direction: read, then deliver each chunk at its arrival time plus the delay, in order."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUE_CHUNKS)
        deliver = asyncio.create_task(self._deliver(queue, writer, connection, upstream))
        try:
            while data := await reader.read(CHUNK_BYTES):
                if self._cut(upstream) or upstream in connection.lost:
                    connection.tainted = True
                    connection.lost.add(upstream)
                    continue
                await queue.put((loop.time() + self._delay_s, data))
            await queue.put(None)
            await deliver  # what is still delayed goes out before the close
        except OSError:
            pass
        finally:
            deliver.cancel()
            connection.reset()

    async def _deliver(
        self,
        queue: asyncio.Queue[tuple[float, bytes] | None],
        writer: asyncio.StreamWriter,
        connection: _Connection,
        upstream: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            while (item := await queue.get()) is not None:
                due, data = item
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)  # why: the injected fault is this delay
                if self._cut(upstream) or upstream in connection.lost:
                    connection.tainted = True
                    connection.lost.add(upstream)
                    continue
                writer.write(data)
                await writer.drain()
