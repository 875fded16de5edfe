"""The durable log end to end: kill -9 under load, suffix-only catch-up, foreign logs."""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import Callable

import aiohttp
import pytest

from tests.e2e.cluster import Cluster, until

pytestmark = pytest.mark.e2e


async def test_master_killed_under_load_loses_and_duplicates_nothing(cluster: Cluster) -> None:
    rng = random.Random(11)
    acked: dict[str, int] = {}  # message -> index the master acknowledged
    sent = 0
    stop = asyncio.Event()

    async def client(number: int) -> None:
        nonlocal sent
        for seq in range(10_000):  # Bounded; the kill rounds end the run long before.
            if stop.is_set():
                return
            msg = f"c{number}-{seq}"
            sent += 1
            try:
                status, body = await cluster.append(msg, w=rng.choice([1, 2, 3]), request_id=msg, timeout_ms=2000)
            except (aiohttp.ClientError, OSError):
                await asyncio.sleep(0.05)  # The master is down; its restart is awaited by the test body.
                continue
            if status in (200, 201):
                acked[msg] = body["index"]

    clients = [asyncio.create_task(client(n)) for n in range(8)]
    for _ in range(5):
        target = len(acked) + rng.randint(20, 120)
        await until(_at_least(acked, target), 30, f"{target} acknowledged appends")
        cluster.kill("master")
        cluster.start_master()
        await cluster.wait_up("master")
    await until(_at_least(acked, len(acked) + 50), 30, "appends after the last restart")
    stop.set()
    await asyncio.wait_for(asyncio.gather(*clients), 30)

    log = await cluster.wait_converged(["secondary-0", "secondary-1"], timeout_s=60)
    assert len(log) == len(set(log)), "a message is stored twice"
    for msg, index in acked.items():
        assert log[index - 1] == msg, f"acknowledged {msg} at {index}, log has {log[index - 1]!r}"
    assert len(set(acked.values())) == len(acked), "two acknowledged appends share an index"
    assert cluster.log_text("master").count("master up:") == 6
    assert sent > len(acked) > 250


async def test_restarted_secondary_streams_only_the_missing_suffix(cluster: Cluster) -> None:
    for i in range(200):
        assert (await cluster.append(f"a{i}", w=3))[0] == 201
    cluster.kill("secondary-1")
    await cluster.wait_status(1, "Unhealthy")
    for i in range(100):
        assert (await cluster.append(f"b{i}", w=2))[0] == 201
    cluster.start_secondary(1)
    log = await cluster.wait_converged(["secondary-0", "secondary-1"])
    assert len(log) == 300
    assert "secondary 1 catching up: streaming 100 entries (201..300)" in cluster.log_text("master")

    async def caught_up_logged() -> bool:  # the master logs it on the ack, which may trail the secondary's read
        return "secondary 1 caught up to 300" in cluster.log_text("master")

    await until(caught_up_logged, 10, "the master to log that secondary 1 caught up")


async def test_a_secondary_behind_the_tail_cache_catches_up_from_the_masters_disk(cluster: Cluster) -> None:
    """12 MB behind, more than the master's 8 MiB tail cache holds: the start of the catch-up is read from
    the master's segments and shipped as the records lie there (RecordRun), checked and written as is."""
    cluster.kill("secondary-1")
    await cluster.wait_status(1, "Unhealthy")
    payloads = [f"{i:05d}" + "x" * 6_000 for i in range(2_000)]
    session = await cluster.http()
    for start in range(0, len(payloads), 100):
        body = {"msgs": payloads[start : start + 100], "w": 2}
        async with session.post(cluster.url("master") + "/messages", json=body) as response:
            assert response.status == 201, await response.text()
    cluster.start_secondary(1)
    assert await cluster.wait_converged(["secondary-0", "secondary-1"], timeout_s=60) == payloads
    assert "secondary 1 catching up: streaming 2000 entries (1..2000)" in cluster.log_text("master")


async def test_secondary_refuses_a_foreign_master_until_reset(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster()
    await cluster.start_all()
    for i in range(5):
        assert (await cluster.append(f"old{i}", w=3))[0] == 201
    cluster.kill("master")
    shutil.rmtree(cluster.directory / "data" / "master")  # A new master: another log id, no entries.
    cluster.start_master()
    await cluster.wait_up("master")

    async def refused() -> bool:
        return bool((await cluster.health("secondary-0"))["refusal"])

    await until(refused, 15, "secondary 0 to refuse the foreign master")

    # Polled: the secondary may report its refusal before the master has processed the refused Hello.
    async def master_shows_it_refused() -> bool:
        secondary = (await cluster.health())["secondaries"][0]
        return secondary["status"] == "Unhealthy" and "not this master's log" in secondary["last_error"]

    await until(master_shows_it_refused, 15, "the master to show secondary 0 Unhealthy, refused as another log")
    assert "refusing to follow this master" in cluster.log_text("secondary-0")
    assert await cluster.messages("secondary-0") == [f"old{i}" for i in range(5)]

    cluster.kill("secondary-0")

    # While it is down the master shows why it cannot reach it now, not the refusal of its last Hello.
    async def master_shows_it_unreachable() -> bool:
        error = (await cluster.health())["secondaries"][0]["last_error"]
        return "not this master's log" not in error and "cannot" in error.lower()

    await until(master_shows_it_unreachable, 15, "the master to show secondary 0 out of reach, not refused")
    cluster.start_secondary(0, "--reset")
    await cluster.wait_status(0, "Healthy")
    assert (await cluster.append("new", w=2))[0] == 201
    assert await cluster.wait_converged(["secondary-0"]) == ["new"]


def _at_least(acked: dict[str, int], count: int) -> Callable[[], object]:
    async def check() -> bool:
        return len(acked) >= count

    return check
