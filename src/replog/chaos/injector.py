"""Applies the fault schedule to the live cluster, heals each fault when it ends, and heals all at the end.

Each applied fault is written to the history when healed, with its real start and end times, so
the record says what the cluster actually went through, not what was planned. A fault that could not
be applied (for example POST /faults to a secondary still starting up) is recorded with its error
and not counted. A fault aimed at "leader" is aimed, when it starts, at the node that says it leads in the
highest term (asked through /health on every node's own port); the record names that node in
`params["node"]`, and no leader at that moment means the fault is recorded as not applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp

from replog.chaos.history import FaultRecord
from replog.chaos.network_faults import NetworkFaults
from replog.chaos.schedule import LEADER, FaultEvent, FaultKind
from replog.processes import NodeProcesses

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
        network: NetworkFaults,
        urls: dict[str, str],
        clock: Clock,
        record: Callable[[FaultRecord], None],
    ) -> None:
        """`network`: the proxies (on loopback) or the nftables rules (on namespace hosts)."""
        self._processes = processes
        self._network = network
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
            event = await self._resolve(event)
            start = self._clock()  # why: finding the leader takes a moment; the fault starts now
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
        await self._network.heal_all()
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

    async def _resolve(self, event: FaultEvent) -> FaultEvent:
        """A fault on "leader" becomes a fault on the node that leads now (named in params["node"])."""
        if event.target != LEADER:
            return event
        leader = await self.find_leader()
        if leader is None:
            raise RuntimeError("no node leads at the moment")
        return dataclasses.replace(event, params={**event.params, "node": leader})

    async def find_leader(self) -> str | None:
        """The node that says it leads, in the highest term if two do (a deposed one may not know yet)."""
        found: list[tuple[int, str]] = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0)) as session:
            for name, url in self._urls.items():
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, ValueError):
                    async with session.get(f"{url}/health") as response:
                        health = await response.json()
                        if health.get("role") == "leader":
                            found.append((int(health["term"]), name))
        return max(found)[1] if found else None

    async def _apply(self, event: FaultEvent) -> None:
        node = event.params.get("node", event.target)
        if event.kind in self._network.kinds:
            await self._network.apply(event)
            return
        match event.kind:
            case FaultKind.PAUSE | FaultKind.PAUSE_NODE | FaultKind.PAUSE_LEADER:
                self._processes.pause(node)
            case FaultKind.KILL_SECONDARY | FaultKind.KILL_MASTER | FaultKind.KILL_NODE | FaultKind.KILL_LEADER:
                self._processes.kill(node)
            case FaultKind.SECONDARY_FAULTS:
                await self._post_faults(event.target, event.params)

    async def _heal(self, event: FaultEvent) -> None:
        node = event.params.get("node", event.target)
        if event.kind in self._network.kinds:
            await self._network.heal(event)
            return
        match event.kind:
            case FaultKind.PAUSE | FaultKind.PAUSE_NODE | FaultKind.PAUSE_LEADER:
                self._processes.resume(node)
            case FaultKind.KILL_SECONDARY | FaultKind.KILL_MASTER | FaultKind.KILL_NODE | FaultKind.KILL_LEADER:
                self._processes.start(node)
            case FaultKind.SECONDARY_FAULTS:
                await self._post_faults(event.target, NO_FAULTS)

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
