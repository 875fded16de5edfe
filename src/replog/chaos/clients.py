"""The workload: a few clients appending to the master, and a reader sampling every node's log.

With failover on, a client knows every node: a try that gets no answer, or a 503 (no leader, read-only,
leadership lost), moves on to the next node with the same request_id, as the client library does,
within a time budget; each try records the node it went to. The reader then also samples
`GET /?committed=1`, whose view must never shrink.

A client's logical append is one msg and one request_id, retried with that same id when the
connection fails, so a retry may be answered `duplicate: true` but must never append twice. A
connection that was never made (refused) is known not to have delivered anything; anything that broke
after it was made may have. Every loop here is bounded: in tries per append, in time per try, and
by the run's stop event.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from replog.chaos.history import AppendRecord, Attempt, Outcome, ReadRecord

__all__ = ["Client", "ClientSettings", "Reader"]

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class ClientSettings:
    w_max: int = 3
    tries_max: int = 8
    request_timeout_s: float = 4.0  # beyond any timeout_ms we send; then retried with the same request_id
    timeout_ms_ratio: float = 0.3  # appends that carry a timeout_ms
    timeout_ms_range: tuple[int, int] = (50, 2000)
    probe_ratio: float = 0.05  # acknowledged appends sent once more on purpose
    pause_s: tuple[float, float] = (0.0, 0.02)  # between appends
    retry_pause_s: tuple[float, float] = (0.05, 0.3)  # grows with each retry, capped at 1 s
    failover: bool = False  # several nodes: a 503 or no answer moves on to the next node
    failover_budget_s: float = 12.0  # failover mode: no new try after this long (a few elections' worth)
    failover_tries_max: int = 40


class Client:
    def __init__(
        self,
        number: int,
        urls: dict[str, str],
        rng: random.Random,
        clock: Clock,
        record: Callable[[AppendRecord], None],
        settings: ClientSettings | None = None,
    ) -> None:
        """`urls`: the nodes by name; classic mode gives only the master's."""
        self.number = number
        self._nodes = sorted(urls)
        self._urls = {name: url + "/" for name, url in urls.items()}
        self._node = self._nodes[number % len(self._nodes)]  # why: spread clients, so forwarding is exercised
        self._rng = rng
        self._clock = clock
        self._record = record
        self._settings = settings or ClientSettings()

    async def run(self, stop: asyncio.Event) -> None:
        """Append until `stop` is set; each logical append is recorded once, even if cancelled."""
        connector = aiohttp.TCPConnector(limit=2)
        async with aiohttp.ClientSession(connector=connector) as session:
            seq = 0
            while not stop.is_set():
                self._record(await self._append(session, seq))
                seq += 1
                await asyncio.sleep(self._rng.uniform(*self._settings.pause_s))  # why: think time

    async def _append(self, session: aiohttp.ClientSession, seq: int) -> AppendRecord:
        settings = self._settings
        msg = f"c{self.number}-{seq}"
        request_id = f"rid-{msg}"
        w = self._rng.randint(1, settings.w_max)
        timeout_ms = (
            self._rng.randint(*settings.timeout_ms_range) if self._rng.random() < settings.timeout_ms_ratio else None
        )
        body: dict[str, Any] = {"msg": msg, "w": w, "request_id": request_id}
        if timeout_ms is not None:
            body["timeout_ms"] = timeout_ms
        invoke = self._clock()
        attempts: list[Attempt] = []

        def record(outcome: Outcome, answer: Attempt | None, complete: float | None, text: str | None) -> AppendRecord:
            return AppendRecord(
                client=self.number,
                request_id=request_id,
                msg=msg,
                w=w,
                timeout_ms=timeout_ms,
                invoke=invoke,
                complete=complete,
                outcome=outcome,
                index=answer.index if answer else None,
                duplicate=answer.duplicate if answer else None,
                status=answer.status if answer else None,
                text=text,
                attempts=tuple(attempts),
                node=answer.node if answer else None,
            )

        try:
            answer = await self._try_until_answered(session, body, attempts)
        except asyncio.CancelledError:
            self._record(record("unknown", None, None, "cancelled at the end of the run"))
            raise
        if answer is None:
            surely = all(a.kind == "refused" for a in attempts)
            text = "connection refused on every try" if surely else "no answer after retries"
            return record("error" if surely else "unknown", None, self._clock(), text)
        complete = answer.at
        if answer.status in (200, 201):
            if self._rng.random() < settings.probe_ratio:
                await self._probe(session, body, attempts)
            return record("ok", answer, complete, None)
        if answer.status == 504:
            return record("timeout", answer, complete, answer.text)
        return record("error", answer, complete, answer.text)

    async def _try_until_answered(
        self, session: aiohttp.ClientSession, body: dict[str, Any], attempts: list[Attempt]
    ) -> Attempt | None:
        settings = self._settings
        if settings.failover:
            return await self._try_nodes(session, body, attempts)
        for attempt in range(settings.tries_max):
            result = await self._post(session, body)
            attempts.append(result)
            if result.kind == "answer":
                return result
            low, high = settings.retry_pause_s
            backoff_s = min(1.0, self._rng.uniform(low, high) * (attempt + 1))
            await asyncio.sleep(backoff_s)  # why: backoff before retrying with the same request_id
        return None

    async def _try_nodes(
        self, session: aiohttp.ClientSession, body: dict[str, Any], attempts: list[Attempt]
    ) -> Attempt | None:
        """Failover mode: the last answer (a 503 after the budget is spent), or None if none came."""
        settings = self._settings
        deadline = self._clock() + settings.failover_budget_s
        answer: Attempt | None = None
        for attempt in range(settings.failover_tries_max):
            result = await self._post(session, body)
            attempts.append(result)
            if result.kind == "answer":
                answer = result
                if result.status != 503:
                    return result
            self._node = self._nodes[(self._nodes.index(self._node) + 1) % len(self._nodes)]
            # The first pass over the nodes does not wait: the next node may well lead.
            rounds = (attempt + 1) // len(self._nodes)
            if (attempt + 1) % len(self._nodes) == 0:
                low, high = settings.retry_pause_s
                await asyncio.sleep(min(1.0, self._rng.uniform(low, high) * rounds))  # why: an election runs
            if self._clock() >= deadline:
                break
        return answer

    async def _probe(self, session: aiohttp.ClientSession, body: dict[str, Any], attempts: list[Attempt]) -> None:
        """Resend an acknowledged append: the answer must be `duplicate: true` with the same index."""
        result = await self._post(session, body)
        if result.kind == "answer":
            attempts.append(replace(result, probe=True))

    async def _post(self, session: aiohttp.ClientSession, body: dict[str, Any]) -> Attempt:
        timeout_s = self._settings.request_timeout_s + (body.get("timeout_ms") or 0) / 1000
        node = self._node
        sent = self._clock()
        try:
            async with session.post(
                self._urls[node], json=body, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as response:
                status = response.status
                data = await response.json(content_type=None)
        except aiohttp.ClientConnectorError as exc:
            return Attempt("refused", self._clock(), text=_describe(exc), node=node, sent=sent)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            return Attempt("lost", self._clock(), text=_describe(exc), node=node, sent=sent)
        at = self._clock()
        data = data if isinstance(data, dict) else {}
        index = data.get("index") if isinstance(data.get("index"), int) else None
        duplicate = data.get("duplicate") if isinstance(data.get("duplicate"), bool) else None
        text = None if status in (200, 201) else str(data.get("error", ""))[:300]
        return Attempt("answer", at, status=status, index=index, duplicate=duplicate, text=text, node=node, sent=sent)


class Reader:
    """Reads a random node's whole log now and then; each read must be a prefix of the final log."""

    def __init__(
        self,
        urls: dict[str, str],
        rng: random.Random,
        clock: Clock,
        record: Callable[[ReadRecord], None],
        *,
        committed_ratio: float = 0.0,
    ) -> None:
        self._urls = urls
        self._committed_ratio = committed_ratio
        self._rng = rng
        self._clock = clock
        self._record = record
        self.reads = 0

    async def run(self, stop: asyncio.Event, period_s: tuple[float, float] = (0.2, 0.6)) -> None:
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                node = self._rng.choice(sorted(self._urls))
                committed = self._rng.random() < self._committed_ratio
                log = await read_log(session, self._urls[node], timeout_s=2.0, committed=committed)
                if log is not None:
                    self._record(ReadRecord(node, self._clock(), tuple(log), committed))
                    self.reads += 1
                await asyncio.sleep(self._rng.uniform(*period_s))  # why: the reader samples logs on a period


async def read_log(
    session: aiohttp.ClientSession, url: str, timeout_s: float, *, committed: bool = False
) -> list[str] | None:
    """GET / of one node, or None when it does not answer in time (stopped, killed, restarting)."""
    target = url + ("/?committed=1" if committed else "/")
    try:
        async with session.get(target, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            if response.status != 200:
                return None
            data = await response.json(content_type=None)
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
        return None
    return [str(m) for m in data] if isinstance(data, list) else None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__
