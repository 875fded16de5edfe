"""The pipelined /stream: each append answered with its own index, bad items refused one by one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from replog.pipeline import PipelinedClient, PipelineError
from tests.e2e.cluster import Cluster

pytestmark = pytest.mark.e2e


async def test_stream_answers_each_append_and_applies_the_post_rules(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(message_bytes_max=100)
    cluster.start_master()
    cluster.start_secondary(0)
    cluster.start_secondary(1)
    await cluster.wait_up("master", "secondary-0", "secondary-1")
    await cluster.wait_status(0, "Healthy")
    await cluster.wait_status(1, "Healthy")
    async with PipelinedClient(cluster.url("master")) as client:
        answers = await asyncio.gather(*(client.append(f"s{i}", w=1 + i % 3) for i in range(200)))
        assert sorted(a.index for a in answers) == list(range(1, 201))
        again = await client.append("once", w=1, request_id="rid")
        duplicate = await client.append("once", w=1, request_id="rid")
        assert (duplicate.index, duplicate.duplicate) == (again.index, True)
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
    assert len(log) == 201 and len(set(log)) == 201
