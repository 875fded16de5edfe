"""Tokens, limits and garbage from the network, against real nodes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import aiohttp
import pytest

from tests.e2e.cluster import Cluster, until

pytestmark = pytest.mark.e2e

TOKENS = {"cluster_token": "cluster-secret", "client_token": "client-secret", "read_token": "read-secret"}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _started(make_cluster: Callable[..., Cluster], **settings: object) -> Cluster:
    cluster = make_cluster(**settings)
    await cluster.start_all()
    return cluster


async def test_tokens_guard_every_door_and_refusals_change_nothing(make_cluster: Callable[..., Cluster]) -> None:
    cluster = await _started(make_cluster, **TOKENS)
    await cluster.wait_status(0, "Healthy")  # The master presents the cluster token to its secondaries.
    await cluster.wait_status(1, "Healthy")
    session = await cluster.http()
    master, secondary = cluster.url("master"), cluster.url("secondary-0")
    body = {"msg": "kept", "w": 3}
    async with session.post(master + "/", json=body, headers=_auth("client-secret")) as response:
        assert response.status == 201
    refusals = [
        ("POST", master + "/", body, {}),
        ("POST", master + "/messages", body, _auth("wrong")),
        ("POST", master + "/", body, _auth("read-secret")),
        ("GET", master + "/", None, {}),
        ("GET", secondary + "/messages", None, _auth("client-secret")),
        ("POST", master + "/join", {"id": 0}, {}),
        ("POST", secondary + "/faults", {"error_after_append": 1}, _auth("client-secret")),
        ("GET", secondary + "/replication", None, {}),
    ]
    for method, url, payload, headers in refusals:
        async with session.request(method, url, json=payload, headers=headers) as response:
            assert response.status == 401, (method, url)
            assert "token" in (await response.json())["error"]
    async with session.get(master + "/", headers=_auth("read-secret")) as response:
        assert await response.json() == ["kept"]
    async with session.get(secondary + "/faults") as response:
        assert (await response.json())["error_after_append"] == 0
    assert "missing or wrong cluster_token" in cluster.log_text("secondary-0")
    assert "missing or wrong client_token" in cluster.log_text("master")
    assert "client-secret" not in cluster.log_text("master")


async def test_a_secondary_with_another_cluster_token_refuses_the_master(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(cluster_token="right")
    cluster.start_master()
    cluster.start_secondary(0)
    cluster.start_secondary(1, env={"REPLOG_CLUSTER_TOKEN": "other"})
    await cluster.wait_up("master", "secondary-0", "secondary-1")
    await cluster.wait_status(0, "Healthy")
    assert (await cluster.append("only-two", w=2))[0] == 201

    async def refused_logged() -> bool:
        return "missing or wrong cluster_token" in cluster.log_text("secondary-1")

    await until(refused_logged, 10, "secondary 1 to log the refused replication link")
    health = await cluster.health()
    assert health["secondaries"][1]["status"] == "Unhealthy"
    assert await cluster.messages("secondary-1") == []


async def test_limits_name_the_setting(make_cluster: Callable[..., Cluster]) -> None:
    cluster = await _started(make_cluster, message_bytes_max=100, append_batch_max=3, waiters_per_w_max=1)
    await cluster.wait_status(0, "Healthy")
    status, body = await cluster.post_raw("master", json.dumps({"msg": "x" * 101}).encode())
    assert status == 413 and "message_bytes_max" in body["error"]
    status, body = await cluster.post_raw("master", json.dumps({"msgs": ["a", "b", "c", "d"]}).encode())
    assert status == 413 and "append_batch_max" in body["error"]
    cluster.kill("secondary-1")
    blocked = asyncio.create_task(cluster.append("waits", w=3))

    async def one_waiting() -> bool:
        return bool((await cluster.health())["waiting"] == 1)

    await until(one_waiting, 10, "the w=3 append to wait")
    status, body = await cluster.append("second", w=3)
    assert status == 503 and "waiters_per_w_max" in body["error"]
    assert (await cluster.append("w1 still fine", w=1))[0] == 201
    cluster.start_secondary(1)
    assert (await asyncio.wait_for(blocked, 20))[0] == 201
    assert await cluster.messages("master") == ["waits", "w1 still fine"]


GARBAGE = [
    b"\x00\xff\x13garbage\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n",  # a half request, then silence
    b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
    b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"msg": ',  # a body that never ends
    b"GET /replication HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    bytes(range(256)) * 8,
]


async def test_garbage_from_the_network_harms_nobody(make_cluster: Callable[..., Cluster]) -> None:
    cluster = await _started(make_cluster, header_timeout_seconds=1.0, body_timeout_seconds=1.0)
    await cluster.wait_status(0, "Healthy")
    await cluster.wait_status(1, "Healthy")
    assert (await cluster.append("before", w=3))[0] == 201
    ports = [cluster.master_port, *cluster.secondary_ports]
    writers = []
    for port in ports:
        for junk in GARBAGE:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(junk)
            await writer.drain()
            writers.append((reader, writer))
    # While the junk connections hang, every node still serves real requests.
    assert (await cluster.append("during", w=3))[0] == 201
    for name in ("master", "secondary-0", "secondary-1"):
        assert (await cluster.messages(name))[:1] == ["before"]
    # A trickling client is cut off by the header or body timeout, not held forever.
    closed = 0
    for reader, writer in writers:
        try:
            await asyncio.wait_for(reader.read(), 5)
            closed += 1
        except (TimeoutError, ConnectionError):
            pass
        writer.close()
    assert closed == len(writers)
    assert await cluster.wait_converged(["secondary-0", "secondary-1"]) == ["before", "during"]
    status, _ = await cluster.append("after", w=3)
    assert status == 201
    for name in ("master", "secondary-0", "secondary-1"):
        health = await cluster.health(name)
        assert health["role"] in ("master", "secondary")
    session = await cluster.http()
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await session.ws_connect(cluster.url("master") + "/nowhere")
