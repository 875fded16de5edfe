"""Election messages to peers: one short authenticated `POST /vote` each (DESIGN §9).

Votes are lossy by design: the election retries on its own timeout, so a vote that cannot be
delivered (peer down, slow, refusing our token, answering garbage) is one INFO line and a
`None`, never an exception that a caller would have to handle. The answer, when the peer
gives one, is the body of the response: a `VoteResponse` to a `VoteRequest`, nothing (204) to a
`TimeoutNow` or to a request the peer chose to ignore.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import aiohttp

from replog.core.vote_messages import VoteMessage
from replog.errors import ProtocolError
from replog.net.auth import bearer
from replog.net.tls import dial_failure
from replog.wire import vote_codec

__all__ = ["ANSWER_BYTES_MAX", "VoteClient"]

log = logging.getLogger("replog.vote")

# A VoteResponse is about 30 bytes; anything much larger is not an answer to a vote.
ANSWER_BYTES_MAX = 4096


class VoteClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        peers: Mapping[int, str],
        token: str,
        timeout_s: float,
        scheme: str = "http",
    ) -> None:
        """`peers`: node id -> `host:port`; `timeout_s` bounds a whole exchange (the node passes connection_timeout)."""
        self._session = session  # Owned by the caller, which closes it after close().
        self._urls = {peer: f"{scheme}://{address}/vote" for peer, address in peers.items()}
        self._tls = scheme == "https"
        self._headers = {**bearer(token), "Content-Type": "application/octet-stream"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def send(self, peer: int, message: VoteMessage) -> VoteMessage | None:
        """POST `message` to `peer`; its answer, or None for no answer or any trouble on the way."""
        url = self._url(peer)
        try:
            async with self._session.post(
                url, data=vote_codec.encode(message), headers=self._headers, timeout=self._timeout
            ) as response:
                if response.status == 204:
                    return None
                if response.content_length is not None and response.content_length > ANSWER_BYTES_MAX:
                    return self._lost(peer, message, f"answer of {response.content_length} bytes, too large")
                body = await response.read()
        except TimeoutError:  # aiohttp's own timeouts are TimeoutErrors too.
            return self._lost(peer, message, f"no answer within {self._timeout_s:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return self._lost(peer, message, dial_failure(exc, tls=self._tls))
        if not 200 <= response.status < 300:
            detail = body[:200].decode("utf-8", "replace")
            return self._lost(peer, message, f"HTTP {response.status} {detail}")
        try:
            return vote_codec.decode(body)
        except ProtocolError as exc:
            return self._lost(peer, message, f"undecodable answer: {exc}")

    def send_soon(
        self, peer: int, message: VoteMessage, on_answer: Callable[[VoteMessage], None]
    ) -> asyncio.Task[None] | None:
        """Send in the background and give the answer, if any, to `on_answer`; None once closed."""
        self._url(peer)  # An unknown peer is the caller's bug: say so here, not inside a task.
        if self._closed:
            log.debug("vote to node %d dropped: the vote client is closed", peer)
            return None
        task = asyncio.get_running_loop().create_task(self._deliver(peer, message, on_answer))
        self._tasks.add(task)  # The loop keeps only weak references to tasks.
        task.add_done_callback(self._finished)
        return task

    async def close(self) -> None:
        """Cancel the votes still in flight and wait for them to end; later send_soon calls are dropped."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _deliver(self, peer: int, message: VoteMessage, on_answer: Callable[[VoteMessage], None]) -> None:
        answer = await self.send(peer, message)
        if answer is not None:
            on_answer(answer)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        # send() never raises for the network, so an exception here is a bug in on_answer: show it.
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("handling a vote answer failed", exc_info=exc)

    def _url(self, peer: int) -> str:
        try:
            return self._urls[peer]
        except KeyError:
            raise ValueError(f"node {peer} is not a peer (peers: {sorted(self._urls)})") from None

    def _lost(self, peer: int, message: VoteMessage, why: str) -> None:
        log.info("%s to node %d (%s) lost: %s", type(message).__name__, peer, self._urls[peer], why)
        return None
