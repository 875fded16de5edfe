"""Exactly once and total order under injected faults, and catch-up after kill -9."""

from __future__ import annotations

import asyncio
import random
import signal

import pytest

from tests.e2e.cluster import Cluster

pytestmark = pytest.mark.e2e


async def _load(
    cluster: Cluster, count: int, prefix: str, concurrency: int = 16, ws: tuple[int, ...] = (1, 2, 3)
) -> list[int]:
    """Append `count` messages with w drawn from `ws` by `concurrency` clients; return the statuses."""
    rng = random.Random(7)
    queue = list(range(count))
    statuses: list[int] = []

    async def client() -> None:
        while queue:
            i = queue.pop()
            status, _ = await cluster.append(f"{prefix}{i}", w=rng.choice(ws))
            statuses.append(status)

    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(concurrency))), timeout=120)
    return statuses


async def test_error_after_append_never_duplicates(cluster: Cluster) -> None:
    await cluster.set_faults("secondary-0", error_after_append=0.3, delay_ms=[0, 20])
    await cluster.set_faults("secondary-1", delay_ms=[0, 10])
    statuses = await _load(cluster, 500, "m")
    assert statuses == [201] * 500
    await cluster.set_faults("secondary-0", error_after_append=0)
    log = await cluster.wait_converged(["secondary-0", "secondary-1"])
    assert sorted(log) == sorted(f"m{i}" for i in range(500))
    assert len(set(log)) == 500
    assert "error_after_append fault" in cluster.log_text("secondary-0")
    assert (await cluster.health())["secondaries"][0]["reconnects"] > 1


async def test_secondary_reads_are_always_a_prefix_of_the_master(cluster: Cluster) -> None:
    await cluster.set_faults("secondary-0", error_after_append=0.2, delay_ms=[0, 30])
    await cluster.set_faults("secondary-1", delay_ms=[5, 40])
    load = asyncio.create_task(_load(cluster, 300, "o", ws=(1,)))
    observations = 0
    while not load.done():
        for name in ("secondary-0", "secondary-1"):
            seen = await cluster.messages(name)
            master = await cluster.messages("master")
            assert master[: len(seen)] == seen, f"{name} shows {len(seen)} entries that are not a master prefix"
            observations += 1
    await load
    await cluster.set_faults("secondary-0", error_after_append=0)
    await cluster.wait_converged(["secondary-0", "secondary-1"])
    assert observations > 10


async def test_killed_secondary_catches_up(cluster: Cluster) -> None:
    # w <= 2: with one secondary down, w=3 appends would (rightly) wait for its return.
    load = asyncio.create_task(_load(cluster, 400, "k", concurrency=8, ws=(1, 2)))
    while len(await cluster.messages("master")) < 100:
        await asyncio.sleep(0.02)
    cluster.kill("secondary-1")
    await cluster.wait_status(1, "Unhealthy")
    await load
    cluster.start_secondary(1)
    log = await cluster.wait_converged(["secondary-0", "secondary-1"])
    assert len(log) == 400 and len(set(log)) == 400
    assert "catching up" in cluster.log_text("master")


async def test_health_follows_a_stopped_secondary(cluster: Cluster) -> None:
    """SIGSTOP: Suspected after suspect_after, Unhealthy after unhealthy_after; SIGCONT: Healthy."""
    loop = asyncio.get_running_loop()
    cluster.signal("secondary-0", signal.SIGSTOP)
    stopped_at = loop.time()
    await cluster.wait_status(0, "Suspected", timeout_s=5)
    suspected_after = loop.time() - stopped_at
    await cluster.wait_status(0, "Unhealthy", timeout_s=5)
    unhealthy_after = loop.time() - stopped_at
    # Thresholds are 0.6 s and 1.2 s; allow a heartbeat and a tick of slack on either side.
    assert 0.3 <= suspected_after <= 1.5, suspected_after
    assert 0.9 <= unhealthy_after <= 2.5, unhealthy_after
    assert (await cluster.health())["secondaries"][1]["status"] == "Healthy"
    cluster.signal("secondary-0", signal.SIGCONT)
    await cluster.wait_status(0, "Healthy", timeout_s=10)
    assert (await cluster.append("after", w=3))[0] == 201
