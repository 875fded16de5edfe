"""The w=2 writers of `replog bench --failover`: a few clients that know every node, as a user's would.

Each writer is one `AsyncClient` given all three URLs, appending sequentially with a request_id of its
own; the client library rides out the failover (retries across nodes, same request_id). Every ack is
kept with its moment and the node that answered it, so the bench can tell when the new leader first
acknowledged a write and check afterwards that every acknowledged append is in every log. Bounded by a
count and a deadline.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from replog.client import AsyncClient, ReplogClientError

__all__ = ["Ack", "Writers"]

PAYLOAD = "x" * 100


@dataclass(frozen=True, slots=True)
class Ack:
    at: float  # time.monotonic() when the answer arrived
    msg: str
    index: int
    node: str  # URL of the node that answered (a follower that forwarded counts as itself)
    sent: float = 0.0  # time.monotonic() when the append was first sent


@dataclass
class Writers:
    urls: Sequence[str]
    clients: int
    w: int = 2
    count_max: int = 1_000_000
    seconds_max: float = 3_600.0
    failover_timeout: float | None = None  # None: the client's default
    acks: list[Ack] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # msg -> error: unknown outcome, maybe stored
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        deadline = time.monotonic() + self.seconds_max
        per_client = max(1, self.count_max // self.clients)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(n, per_client, deadline)) for n in range(self.clients)]

    async def stop(self, timeout_s: float = 60) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), timeout_s)

    async def _run(self, number: int, count: int, deadline: float) -> None:
        # Writers start on different nodes (a client tries its first URL first), so some always go through
        # a forwarding follower, as a user's clients would.
        shift = number % len(self.urls)
        urls = [*self.urls[shift:], *self.urls[:shift]]
        async with AsyncClient(urls, failover_timeout=self.failover_timeout) as client:
            for i in range(count):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                msg = f"c{number}-{i}-{PAYLOAD}"[:100]
                sent = time.monotonic()
                try:
                    result = await client.append(msg, w=self.w, request_id=f"c{number}-{i}")
                except ReplogClientError as exc:
                    self.failed[msg] = str(exc)
                    continue
                self.acks.append(Ack(time.monotonic(), msg, result.index, client.url, sent))

    @property
    def acked(self) -> dict[str, int]:
        return {ack.msg: ack.index for ack in self.acks}

    def _after(self, moment: float) -> int:
        # Acks are appended as they arrive on one event loop, so their moments only grow: bisect.
        return bisect.bisect_right(self.acks, moment, key=lambda ack: ack.at)

    def acked_since(self, moment: float) -> int:
        return len(self.acks) - self._after(moment)

    def first_ack_sent_after(self, moment: float) -> Ack | None:
        """The first acknowledgement of an append first sent after `moment`: after a kill at `moment` only a
        live leader can have answered it (an earlier request may still get the dead leader's last answer,
        relayed by a follower that had forwarded it)."""
        return next((ack for ack in self.acks[self._after(moment) :] if ack.sent >= moment), None)

    def largest_gap(self, start: float, end: float) -> float:
        """The longest stretch in [start, end] with no ack at all: a pause every writer saw."""
        inside = self.acks[self._after(start) : self._after(end)]
        moments = [start, *(ack.at for ack in inside), end]
        return max(b - a for a, b in itertools.pairwise(moments))
