"""Applies the fault schedule to the live cluster, heals each fault when it ends, and heals all at the end.

Each applied fault is written to the history when healed, with its real start and end times, so
the record says what the cluster actually went through, not what was planned. A fault that could not
be applied (for example POST /faults to a secondary still starting up) is recorded with its error
and not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp

from replog.chaos.history import FaultRecord
from replog.chaos.processes import NodeProcesses
from replog.chaos.proxy import FaultProxy
from replog.chaos.schedule import FaultEvent, FaultKind

__all__ = ["FaultInjector", "NO_FAULTS"]

NO_FAULTS: dict[str, Any] = {
    "error_after_append": 0,
    "delay_ms": [0, 0],
    "internal_looping": 0,
    "server_unavailable": 0,
}
HTTP_TIMEOUT_S = 2.0

Clock = Callable[[], float]


class FaultInjector:
    def __init__(
        self,
        processes: NodeProcesses,
        proxies: list[FaultProxy],
        urls: dict[str, str],
        clock: Clock,
        record: Callable[[FaultRecord], None],
    ) -> None:
        self._processes = processes
        self._proxies = proxies
        self._urls = urls
        self._clock = clock
        self._record = record
        self._active: dict[int, tuple[FaultEvent, float]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.counts: Counter[str] = Counter()

    async def run(self, schedule: list[FaultEvent]) -> None:
        """Start each fault at its time; returns when the last one has been healed."""
        for number, event in enumerate(sorted(schedule, key=lambda e: e.start)):
            await self._sleep_until(event.start)
            self._tasks.append(asyncio.create_task(self._one(number, event), name=f"fault-{number}"))
        await asyncio.gather(*self._tasks)

    async def _one(self, number: int, event: FaultEvent) -> None:
        start = self._clock()
        try:
            await self._apply(event)
        except Exception as exc:  # why: a fault that cannot be applied is evidence, not a crash
            self._record(FaultRecord(event.kind, event.target, start, start, event.params, error=_describe(exc)))
            return
        self.counts[event.kind] += 1
        self._active[number] = (event, start)
        await self._sleep_until(event.end)
        error = None
        try:
            await self._heal(event)
        except Exception as exc:  # why: heal_all at the end of the run retries every heal
            error = f"heal failed: {_describe(exc)}"
        del self._active[number]
        self._record(FaultRecord(event.kind, event.target, start, self._clock(), event.params, error=error))

    async def heal_all(self, up_timeout_s: float = 20.0) -> None:
        """Stop the schedule, end every fault, restart what is down, and wait until every node answers."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for event, start in self._active.values():
            self._record(FaultRecord(event.kind, event.target, start, self._clock(), event.params))
        self._active.clear()
        for proxy in self._proxies:
            proxy.heal()
        for name in self._urls:
            if self._processes.paused(name):
                self._processes.resume(name)
            if not self._processes.alive(name):
                self._processes.start(name)
        errors = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)) as session:
            for name, url in self._urls.items():
                try:
                    await _until_ok(session, f"{url}/health", None, up_timeout_s)
                    if name != "master":
                        await _until_ok(session, f"{url}/faults", NO_FAULTS, up_timeout_s)
                except TimeoutError as exc:  # why: one node that stays down must not leave the others faulty
                    errors.append(f"{name}: {exc}")
        if errors:
            raise RuntimeError("; ".join(errors))

    # ------------------------------------------------------------------ faults

    async def _apply(self, event: FaultEvent) -> None:
        match event.kind:
            case FaultKind.PARTITION:
                self._proxy(event).blackhole()
            case FaultKind.PROXY_DELAY:
                self._proxy(event).set_delay(int(event.params["delay_ms"]))
            case FaultKind.PROXY_DROP:
                self._proxy(event).drop(refuse=True)
            case FaultKind.PAUSE:
                self._processes.pause(event.target)
            case FaultKind.KILL_SECONDARY | FaultKind.KILL_MASTER:
                self._processes.kill(event.target)
            case FaultKind.SECONDARY_FAULTS:
                await self._post_faults(event.target, event.params)

    async def _heal(self, event: FaultEvent) -> None:
        match event.kind:
            case FaultKind.PARTITION | FaultKind.PROXY_DELAY | FaultKind.PROXY_DROP:
                self._proxy(event).heal()
            case FaultKind.PAUSE:
                self._processes.resume(event.target)
            case FaultKind.KILL_SECONDARY | FaultKind.KILL_MASTER:
                self._processes.start(event.target)
            case FaultKind.SECONDARY_FAULTS:
                await self._post_faults(event.target, NO_FAULTS)

    def _proxy(self, event: FaultEvent) -> FaultProxy:
        return self._proxies[int(event.target.rsplit("-", 1)[1])]

    async def _post_faults(self, name: str, settings: dict[str, Any], timeout_s: float = 5.0) -> None:
        """POST /faults, retried for a bounded time: the secondary may still be starting after a restart."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)) as session:
            await _until_ok(session, f"{self._urls[name]}/faults", settings, timeout_s)

    async def _sleep_until(self, at: float) -> None:
        if (wait := at - self._clock()) > 0:
            await asyncio.sleep(wait)  # why: faults follow the schedule's clock


async def _until_ok(session: aiohttp.ClientSession, url: str, body: dict[str, Any] | None, timeout_s: float) -> None:
    """GET (or POST `body` to) url until it answers 200; raise after timeout_s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last = "no answer"
    while loop.time() < deadline:
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
            request = session.get(url) if body is None else session.post(url, json=body)
            async with request as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        await asyncio.sleep(0.1)  # why: a restarted node needs a moment to listen
    raise TimeoutError(f"{url} did not answer 200 within {timeout_s}s ({last})")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
