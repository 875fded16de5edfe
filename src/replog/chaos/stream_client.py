"""A chaos client on `/stream`: bursts of appends in flight on one WebSocket, as `PipelinedClient` sends them.

The POST clients carry a request_id and retry; this one carries none, so that a burst's consecutive
appends of one `w` go in as one proposal (web/stream.py), and it never retries: each append is one try,
recorded once. An answer with an index is "ok" (or "error" with its status); an append whose answer
never came (the stream broke, or the client gave up waiting) may or may not be stored: "unknown", and
the checker allows it at most once. Its request_id in the history is a label of ours (`stream-<msg>`),
never sent.

With failover on, a stream to a node that does not lead has each append refused (503): the client then
moves on to the next node, as it does when a node cannot be reached. Every loop is bounded by the run's
stop event, and every wait by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass

from replog.chaos.clients import Clock
from replog.chaos.history import AppendRecord, Attempt, Outcome
from replog.client.errors import ConnectionFailed
from replog.pipeline import PipelinedAppend, PipelinedClient, PipelineError

__all__ = ["StreamClient", "StreamSettings"]


@dataclass(frozen=True, slots=True)
class StreamSettings:
    w_max: int = 3
    burst: tuple[int, int] = (1, 12)  # appends sent together
    runs_max: int = 3  # a burst holds up to this many runs, each of one w
    answer_timeout_s: float = 6.0  # then the burst's unanswered appends are unknown, and the stream is closed
    connect_timeout_s: float = 2.0
    pause_s: tuple[float, float] = (0.02, 0.1)  # between bursts
    retry_pause_s: tuple[float, float] = (0.05, 0.3)  # before dialling the next node


class StreamClient:
    def __init__(
        self,
        number: int,
        urls: dict[str, str],
        rng: random.Random,
        clock: Clock,
        record: Callable[[AppendRecord], None],
        settings: StreamSettings | None = None,
    ) -> None:
        """`urls`: the nodes by name; classic mode gives only the master's."""
        self.number = number
        self._nodes = sorted(urls)
        self._urls = urls
        self._node = self._nodes[0]
        self._rng = rng
        self._clock = clock
        self._record = record
        self._settings = settings or StreamSettings()
        self._seq = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            client = PipelinedClient(self._urls[self._node])
            try:
                try:
                    await asyncio.wait_for(client.connect(), self._settings.connect_timeout_s)
                except (ConnectionFailed, TimeoutError):
                    await self._next_node()
                    continue
                while not stop.is_set() and await self._burst(client):
                    await asyncio.sleep(self._rng.uniform(*self._settings.pause_s))  # why: think time
            finally:
                await self._close(client)  # also when cancelled while dialling: no session is left open
            if not stop.is_set():
                await self._next_node()

    async def _burst(self, client: PipelinedClient) -> bool:
        """Send one burst of runs and record every append of it; False when this stream is done for."""
        sent: list[tuple[str, int, float, asyncio.Future[PipelinedAppend]]] = []
        answered_at: dict[asyncio.Future[PipelinedAppend], float] = {}  # this burst's only: gone with it

        def note_answer_time(future: asyncio.Future[PipelinedAppend]) -> None:
            answered_at[future] = self._clock()

        for w in self._burst_ws():
            msg = f"s{self.number}-{self._seq}"
            try:
                future = client.append_nowait(msg, w)
            except ConnectionError:  # The stream closed: this append was not queued (nor sent).
                break
            future.add_done_callback(note_answer_time)  # when it came, not when the burst is recorded
            self._seq += 1
            sent.append((msg, w, self._clock(), future))
        if not sent:
            return False
        timeout_s = self._settings.answer_timeout_s
        try:
            await asyncio.wait([future for *_, future in sent], timeout=timeout_s)
        except asyncio.CancelledError:
            self._record_all(sent, answered_at, "cancelled at the end of the run")
            raise
        return self._record_all(sent, answered_at, f"no answer within {timeout_s} s")

    def _burst_ws(self) -> list[int]:
        """The `w` of each append of a burst: a few runs, each of one `w`."""
        settings = self._settings
        count = self._rng.randint(*settings.burst)
        runs = self._rng.randint(1, min(settings.runs_max, count))
        cuts = [0, *sorted(self._rng.sample(range(1, count), runs - 1)), count]
        ws: list[int] = []
        for start, end in itertools.pairwise(cuts):
            ws += [self._rng.randint(1, settings.w_max)] * (end - start)
        return ws

    def _record_all(
        self,
        sent: list[tuple[str, int, float, asyncio.Future[PipelinedAppend]]],
        answered_at: dict[asyncio.Future[PipelinedAppend], float],
        unanswered: str,
    ) -> bool:
        """Record each append once; True if every one was answered and none refused as not leading (503)."""
        go_on = True
        for msg, w, invoke, future in sent:
            record = self._recorded(msg, w, invoke, future, answered_at.get(future), unanswered)
            self._record(record)
            go_on = go_on and record.outcome != "unknown" and record.status != 503
        return go_on

    def _recorded(
        self,
        msg: str,
        w: int,
        invoke: float,
        future: asyncio.Future[PipelinedAppend],
        at: float | None,
        unanswered: str,
    ) -> AppendRecord:
        node = self._node
        if not future.done():
            future.cancel()
            return self._unknown(msg, w, invoke, node, unanswered)
        at = self._clock() if at is None else at  # None: answered in this very loop pass, its callback not run
        error = future.exception()
        if isinstance(error, PipelineError):
            attempt = Attempt("answer", at, status=error.status, text=str(error)[:300], node=node)
            return self._answered(msg, w, invoke, "error", attempt)
        if error is not None:  # The stream broke before the answer: it may have been stored.
            return self._unknown(msg, w, invoke, node, f"{type(error).__name__}: {error}"[:300])
        answer = future.result()
        status = 200 if answer.duplicate else 201
        attempt = Attempt("answer", at, status=status, index=answer.index, duplicate=answer.duplicate, node=node)
        return self._answered(msg, w, invoke, "ok", attempt)

    def _unknown(self, msg: str, w: int, invoke: float, node: str, text: str) -> AppendRecord:
        return self._answered(msg, w, invoke, "unknown", Attempt("lost", self._clock(), text=text, node=node))

    def _answered(self, msg: str, w: int, invoke: float, outcome: Outcome, attempt: Attempt) -> AppendRecord:
        """The record of an append's one try; an unknown outcome has no answer (no completion, no node)."""
        answered = outcome != "unknown"
        return AppendRecord(
            client=self.number,
            request_id=f"stream-{msg}",
            msg=msg,
            w=w,
            timeout_ms=None,
            invoke=invoke,
            complete=attempt.at if answered else None,
            outcome=outcome,
            index=attempt.index,
            duplicate=attempt.duplicate,
            status=attempt.status,
            text=attempt.text,
            attempts=(attempt,),
            node=attempt.node if answered else None,
        )

    async def _next_node(self) -> None:
        self._node = self._nodes[(self._nodes.index(self._node) + 1) % len(self._nodes)]
        await asyncio.sleep(self._rng.uniform(*self._settings.retry_pause_s))  # why: an election may be running

    async def _close(self, client: PipelinedClient) -> None:
        with contextlib.suppress(Exception):  # why: closing a broken stream may fail in any way; it is gone
            await asyncio.wait_for(client.close(), 2.0)
