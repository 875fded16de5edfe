"""GET /metrics on every node, in Prometheus' text format, with values that follow the cluster."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.cluster import Cluster, until

pytestmark = pytest.mark.e2e


async def _samples(cluster: Cluster, name: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    session = await cluster.http()
    async with session.get(cluster.url(name) + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_follow_appends_health_and_lag(cluster: Cluster) -> None:
    for i in range(3):
        assert (await cluster.append(f"m{i}", w=3))[0] == 201
    assert (await cluster.append("dup", w=1, request_id="r"))[0] == 201
    assert (await cluster.append("dup", w=1, request_id="r"))[0] == 200
    assert (await cluster.post_raw("master", b'{"msg": 1}'))[0] == 400
    master = await _samples(cluster, "master")
    assert master[("replog_appends_total", (("outcome", "ok"), ("w", "3")))] == 3
    assert master[("replog_appends_total", (("outcome", "duplicate"), ("w", "1")))] == 1
    assert master[("replog_appends_total", (("outcome", "invalid"), ("w", "1")))] == 1
    assert master[("replog_append_latency_seconds_count", (("w", "3"),))] == 3
    assert master[("replog_last_index", ())] == 4
    assert master[("replog_read_only", ())] == 0
    assert master[("replog_fsync_seconds_count", ())] >= 1
    assert master[("replog_secondary_health", (("secondary", "0"), ("status", "Healthy")))] == 1
    await cluster.wait_converged(["secondary-0", "secondary-1"])
    secondary = await _samples(cluster, "secondary-1")
    assert secondary[("replog_contiguous_index", ())] == 4
    assert secondary[("replog_master_connected", ())] == 1

    cluster.kill("secondary-1")
    await cluster.wait_status(1, "Unhealthy")
    assert (await cluster.append("lagging", w=2))[0] == 201
    master = await _samples(cluster, "master")
    assert master[("replog_secondary_lag", (("secondary", "1"),))] == 1
    assert master[("replog_secondary_health", (("secondary", "1"), ("status", "Unhealthy")))] == 1
    assert master[("replog_link_retries_total", (("secondary", "1"),))] >= 1
    cluster.start_secondary(1)
    await cluster.wait_converged(["secondary-1"])
    await cluster.wait_status(1, "Healthy")
    master = await _samples(cluster, "master")
    assert master[("replog_catchup_entries_total", (("secondary", "1"),))] == 1  # Only what it missed.
    assert master[("replog_link_reconnects_total", (("secondary", "1"),))] == 2


async def test_a_failover_leader_exports_its_followers_as_the_fixed_master_does(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster(failover=True, election_timeout_seconds=2.0)  # the master keeps leading
    await cluster.start_all()

    async def followers_healthy() -> bool:
        health = await cluster.health("master")
        return health["role"] == "leader" and all(peer["status"] == "Healthy" for peer in health["peers"])

    await until(followers_healthy, 20, "the master to lead two Healthy followers")
    assert (await cluster.append("a", w=3))[0] == 201
    leader = await _samples(cluster, "master")
    assert leader[("replog_read_only", ())] == 0
    assert leader[("replog_waiting_appends", ())] == 0
    for follower in ("secondary-0", "secondary-1"):  # labelled by node name: with failover any node may follow
        assert leader[("replog_secondary_health", (("secondary", follower), ("status", "Healthy")))] == 1
        assert leader[("replog_link_reconnects_total", (("secondary", follower),))] >= 1
    follower_view = await _samples(cluster, "secondary-0")
    assert follower_view[("replog_read_only", ())] == 0
    assert not any(name.startswith("replog_secondary_") for name, _ in follower_view)

    cluster.kill("secondary-1")

    async def unhealthy() -> bool:
        peers = (await cluster.health("master"))["peers"]
        return any(peer["name"] == "secondary-1" and peer["status"] == "Unhealthy" for peer in peers)

    await until(unhealthy, 20, "secondary-1 to be Unhealthy")
    assert (await cluster.append("b", w=2))[0] == 201
    leader = await _samples(cluster, "master")
    assert leader[("replog_secondary_lag", (("secondary", "secondary-1"),))] >= 1
    assert leader[("replog_secondary_health", (("secondary", "secondary-1"), ("status", "Unhealthy")))] == 1
    cluster.start_secondary(1)
    await until(followers_healthy, 20, "secondary-1 to be Healthy again")
    await cluster.wait_converged(["secondary-1"])

    async def caught_up_counted() -> bool:
        samples = await _samples(cluster, "master")
        return samples.get(("replog_catchup_entries_total", (("secondary", "secondary-1"),)), 0) >= 1

    await until(caught_up_counted, 10, "the leader to count secondary-1's catch-up")
    assert (await _samples(cluster, "master"))[("replog_secondary_lag", (("secondary", "secondary-1"),))] == 0
