"""The pipelined /stream: each append answered with its own index, bad items refused one by one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from replog.pipeline import PipelinedClient, PipelineError
from tests.e2e.cluster import Cluster, until

pytestmark = pytest.mark.e2e


async def test_stream_answers_each_append_and_applies_the_post_rules(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(message_bytes_max=100)
    await cluster.start_all()
    await cluster.wait_status(0, "Healthy")
    await cluster.wait_status(1, "Healthy")
    async with PipelinedClient(cluster.url("master")) as client:
        answers = await asyncio.gather(*(client.append(f"s{i}", w=1 + i % 3) for i in range(200)))
        assert sorted(a.index for a in answers) == list(range(1, 201))
        again = await client.append("once", w=1, request_id="rid")
        duplicate = await client.append("once", w=1, request_id="rid")
        assert (duplicate.index, duplicate.duplicate) == (again.index, True)
        # A request_id first seen on a POST batch is answered as the POST is: at the batch's last index.
        status, batch = await cluster.post_raw("master", b'{"msgs": ["p", "q", "r"], "w": 1, "request_id": "b1"}')
        assert status == 201
        repeated = await client.append("p", w=1, request_id="b1")
        assert (repeated.index, repeated.duplicate) == (batch["last_index"], True)
        refusals = [
            (client.append("x" * 101, w=1), 413, "message_bytes_max"),
            (client.append("x", w=4), 400, "in 1..3, got 4"),
            (client.append("x", w=1, request_id=""), 400, "'request_id' must be a non-empty string"),
        ]
        for call, status, words in refusals:
            with pytest.raises(PipelineError) as raised:
                await call
            assert raised.value.status == status and words in str(raised.value)
    log = await cluster.wait_converged(["secondary-0", "secondary-1"])
    assert len(log) == 204 and len(set(log)) == 204


@pytest.mark.parametrize("failover", [False, True], ids=["fixed-master", "failover"])
async def test_a_frame_goes_in_as_runs_of_one_w_each_answered_at_its_own_index(
    make_cluster: Callable[..., Cluster], failover: bool
) -> None:
    # waiters_max 4: 61 appends proposed one by one in one loop turn would mostly be refused as overloaded.
    # As runs (w=2 x 20, the request_id'd one alone, w=3 x 20, w=2 x 20 with a refused item amid them) they
    # are 4 proposals.
    cluster = make_cluster(waiters_max=4, failover=failover, election_timeout_seconds=2.0)  # no election wanted
    await cluster.start_all()

    async def master_leads() -> bool:
        health = await cluster.health("master")
        peers = health.get("secondaries") or health.get("peers") or []  # fixed master / failover leader
        return health["role"] in ("master", "leader") and [p["status"] for p in peers] == ["Healthy"] * 2

    await until(master_leads, 20, "the master to lead two healthy secondaries")
    sent = [f"a{i}" for i in range(20)] + ["keyed"] + [f"b{i}" for i in range(20)] + [f"c{i}" for i in range(20)]
    concerns = [2] * 20 + [2] + [3] * 20 + [2] * 20
    async with PipelinedClient(cluster.url("master")) as client:
        futures = []
        for position, (msg, w) in enumerate(zip(sent, concerns, strict=True)):
            if position == 50:
                refused = client.append_nowait("bad", w=9)  # refused alone; the run around it goes on
            futures.append(client.append_nowait(msg, w, request_id="key-1" if msg == "keyed" else None))
        answers = await asyncio.wait_for(asyncio.gather(*futures), 20)
        with pytest.raises(PipelineError) as raised:
            await refused
        assert raised.value.status == 400
    # Frame order is log order, and each answer names where its message is.
    indexes = [answer.index for answer in answers]
    assert indexes == list(range(indexes[0], indexes[0] + len(sent)))
    session = await cluster.http()
    async with session.get(cluster.url("master") + "/?detail=1") as response:
        at_index = {item["index"]: item["msg"] for item in await response.json()}
    assert [at_index[index] for index in indexes] == sent
    log = await cluster.messages("master")
    assert await cluster.wait_converged(["secondary-0", "secondary-1"]) == log
    # Metrics still count appends, not proposals.
    async with session.get(cluster.url("master") + "/metrics") as response:
        text = await response.text()
    assert 'replog_appends_total{outcome="ok",w="2"} 41.0' in text
    assert 'replog_appends_total{outcome="ok",w="3"} 20.0' in text
    assert 'w="9"' not in text  # A refused w is no label of its own: bad input must not grow /metrics.
