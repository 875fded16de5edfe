"""The HTTP contract: quorum and read-only, request_id dedup, timeouts, and bad input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from tests.e2e.cluster import Cluster

pytestmark = pytest.mark.e2e


async def test_read_only_without_quorum_and_back(cluster: Cluster) -> None:
    assert (await cluster.append("before", w=1))[0] == 201
    cluster.kill("secondary-0")
    cluster.kill("secondary-1")
    await cluster.wait_status(0, "Unhealthy")
    await cluster.wait_status(1, "Unhealthy")
    session = await cluster.http()
    async with session.post(cluster.url("master") + "/", json={"msg": "refused", "w": 1}) as response:
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
        assert await response.json() == {"error": "read-only: no quorum (1 of 3 nodes alive, 2 needed)"}
    health = await cluster.health()
    assert health["read_only"] is True and health["quorum"] == {"alive": 1, "needed": 2}
    assert await cluster.messages("master") == ["before"]

    cluster.start_secondary(0)
    await cluster.wait_status(0, "Healthy")
    assert (await cluster.append("after", w=2))[0] == 201
    assert (await cluster.health())["read_only"] is False
    assert await cluster.messages("master") == ["before", "after"]
    assert "read-only ON" in cluster.log_text("master") and "read-only off" in cluster.log_text("master")


async def test_request_id_appends_once(cluster: Cluster) -> None:
    first = await cluster.append("once", w=2, request_id="req-1")
    second = await cluster.append("once", w=2, request_id="req-1")
    assert first == (201, {"index": 1, "w": 2, "duplicate": False})
    assert second == (200, {"index": 1, "w": 2, "duplicate": True})
    assert await cluster.messages("master") == ["once"]
    assert await cluster.wait_converged(["secondary-0", "secondary-1"]) == ["once"]


async def test_timeout_answers_504_and_keeps_the_entry(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster()
    cluster.start_master()
    cluster.start_secondary(0)
    await cluster.wait_up("master", "secondary-0")
    await cluster.wait_status(0, "Healthy")
    status, body = await cluster.append("slow", w=3, timeout_ms=300)
    assert status == 504
    assert body["index"] == 1
    assert "stored on the leader, replication continues" in body["error"]
    batch = {"msgs": ["b1", "b2", "b3"], "w": 3, "timeout_ms": 300}
    status, body = await cluster.post_raw("master", json.dumps(batch).encode())
    assert status == 504
    assert (body["first_index"], body["last_index"], body["index"], body["w"]) == (2, 4, 4, 3)
    cluster.start_secondary(1)
    assert await cluster.wait_converged(["secondary-0", "secondary-1"]) == ["slow", "b1", "b2", "b3"]


async def test_suspend_on_slaves_dead_fails_fast(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(suspend_on_slaves_dead=True)
    cluster.start_master()
    cluster.start_secondary(0)
    await cluster.wait_up("master", "secondary-0")
    await cluster.wait_status(0, "Healthy")
    status, body = await asyncio.wait_for(cluster.append("x", w=3), 5)
    assert status == 503
    assert "suspend_on_slaves_dead" in body["error"]
    assert (await cluster.append("y", w=2))[0] == 201
    assert await cluster.messages("master") == ["y"]


BAD_BODIES = [
    (b"not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "must be a JSON object"),
    (b"{}", 400, "missing field 'msg'"),
    (b'{"msg": 5}', 400, "'msg' must be a string"),
    (b'{"msg": "x", "w": "3"}', 400, "'w' must be an integer"),
    (b'{"msg": "x", "w": 2.5}', 400, "'w' must be an integer"),
    (b'{"msg": "x", "w": 4}', 400, "in 1..3, got 4"),
    (b'{"msg": "x", "w": 0}', 400, "in 1..3, got 0"),
    (b'{"msg": "x", "request_id": 7}', 400, "'request_id' must be a non-empty string"),
    (b'{"msg": "x", "colour": "red"}', 400, "unknown field"),
]


@pytest.mark.parametrize(("body", "status", "words"), BAD_BODIES, ids=[b.decode() for b, _, _ in BAD_BODIES])
async def test_bad_input_is_refused_and_changes_nothing(cluster: Cluster, body: bytes, status: int, words: str) -> None:
    assert (await cluster.append("kept", w=3))[0] == 201
    got_status, got = await cluster.post_raw("master", body, headers={"Content-Type": "application/json"})
    assert got_status == status
    assert words in got["error"]
    assert await cluster.messages("master") == ["kept"]
    assert await cluster.wait_converged(["secondary-0", "secondary-1"]) == ["kept"]


async def test_oversized_unknown_path_and_wrong_method(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(max_body_bytes=1024)
    cluster.start_master()
    cluster.start_secondary(0)
    await cluster.wait_up("master", "secondary-0")
    await cluster.wait_status(0, "Healthy")
    assert (await cluster.append("kept"))[0] == 201
    big = json.dumps({"msg": "x" * 2000}).encode()
    status, body = await cluster.post_raw("master", big)
    assert status == 413 and "max_body_bytes" in body["error"]
    session = await cluster.http()
    async with session.get(cluster.url("master") + "/nowhere") as response:
        assert response.status == 404
        assert "no such path" in (await response.json())["error"]
    async with session.delete(cluster.url("master") + "/") as response:
        assert response.status == 405
        assert "not allowed" in (await response.json())["error"]
    status, body = await cluster.post_raw("secondary-0", b'{"msg": "x"}')
    assert status == 405 and "append on the master" in body["error"]
    assert await cluster.messages("master") == ["kept"]


async def test_paging_and_detail(cluster: Cluster) -> None:
    for i in range(5):
        await cluster.append(f"p{i}", w=3)
    session = await cluster.http()
    for name in ("master", "secondary-0"):
        async with session.get(cluster.url(name) + "/messages?from=2&limit=2") as response:
            assert await response.json() == ["p1", "p2"]
        async with session.get(cluster.url(name) + "/?detail=1&from=5") as response:
            assert await response.json() == [{"index": 5, "msg": "p4"}]
    async with session.get(cluster.url("master") + "/?from=0") as response:
        assert response.status == 400


async def test_secondary_faults_endpoint(cluster: Cluster) -> None:
    faults = await cluster.set_faults("secondary-1", error_after_append=0.5, delay_ms=[1, 2], internal_looping=0)
    assert faults["error_after_append"] == 0.5 and faults["delay_ms"] == [1, 2]
    session = await cluster.http()
    async with session.get(cluster.url("secondary-1") + "/faults") as response:
        assert (await response.json())["error_after_append"] == 0.5
    status, body = await cluster.post_raw("secondary-1", b'{"error_after_append": 2}', path="/faults")
    assert status == 400 and "probability" in body["error"]
    health = await cluster.health("secondary-1")
    assert health["role"] == "secondary" and health["id"] == 1 and health["master_connected"] is True
