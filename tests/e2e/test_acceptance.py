"""The acceptance scenario and the promise that a blocked writer never delays the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.e2e.cluster import Cluster, until

pytestmark = pytest.mark.e2e


async def test_acceptance_scenario(make_cluster: Callable[..., Cluster]) -> None:
    """Master + S1 only: w=1 and w=2 succeed, w=3 blocks until S2 starts, w=1 meanwhile is fast."""
    cluster = make_cluster()
    cluster.start_master()
    cluster.start_secondary(0)
    await cluster.wait_up("master", "secondary-0")
    await cluster.wait_status(0, "Healthy")

    assert await cluster.append("Msg1", w=1) == (201, {"index": 1, "w": 1, "duplicate": False})
    assert await cluster.append("Msg2", w=2) == (201, {"index": 2, "w": 2, "duplicate": False})
    blocked = asyncio.create_task(cluster.append("Msg3", w=3))
    await asyncio.sleep(0.5)  # Give Msg3 every chance to (wrongly) complete without S2.
    assert not blocked.done(), "w=3 must wait for the second secondary"

    started = time.monotonic()
    assert await cluster.append("Msg4", w=1) == (201, {"index": 4, "w": 1, "duplicate": False})
    assert time.monotonic() - started < 1.0
    assert not blocked.done()

    cluster.start_secondary(1)
    status, body = await asyncio.wait_for(blocked, 20)
    assert (status, body) == (201, {"index": 3, "w": 3, "duplicate": False})
    expected = ["Msg1", "Msg2", "Msg3", "Msg4"]
    assert await cluster.wait_converged(["secondary-0", "secondary-1"]) == expected
    for name in ("master", "secondary-0", "secondary-1"):
        assert await cluster.messages(name) == expected


async def test_blocked_writer_does_not_delay_parallel_clients(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster()
    cluster.start_master()
    cluster.start_secondary(0)
    await cluster.wait_up("master", "secondary-0")
    await cluster.wait_status(0, "Healthy")

    blocked = asyncio.create_task(cluster.append("needs-three", w=3))
    await until(_one_waiting(cluster), 5, "the w=3 append to be waiting")
    started = time.monotonic()
    results = await asyncio.wait_for(
        asyncio.gather(*(cluster.append(f"p{i}", w=1 + i % 2) for i in range(50))), timeout=10
    )
    elapsed = time.monotonic() - started
    assert all(status == 201 for status, _ in results)
    assert sorted(body["index"] for _, body in results) == list(range(2, 52))
    assert elapsed < 5, f"50 parallel appends took {elapsed:.2f}s while a w=3 append was blocked"
    assert not blocked.done()
    cluster.start_secondary(1)
    assert (await asyncio.wait_for(blocked, 20))[0] == 201


def _one_waiting(cluster: Cluster) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool((await cluster.health())["waiting"] == 1)

    return check
