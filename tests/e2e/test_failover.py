"""Failover on real processes: a killed leader is replaced, the master comes back and leads, nothing
acknowledged with w >= 2 is lost, what a failover undoes is in a rollback file, step-down pauses little.

Every node is a real `replog` process on 127.0.0.1 with `failover: true`; traffic goes through the
client library with all three URLs, as a user's would. Each load loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from replog.client import AsyncClient, ConnectionFailed
from replog.pipeline import PipelinedClient, PipelineError
from tests.e2e.cluster import Cluster, free_port, until

pytestmark = pytest.mark.e2e

NAMES = ("master", "secondary-0", "secondary-1")
FAILOVER = {"failover": True, "election_timeout_seconds": 0.5}


async def _start(make_cluster: Callable[..., Cluster]) -> Cluster:
    cluster = make_cluster(**FAILOVER)
    cluster.start_master()
    cluster.start_secondary(0)
    cluster.start_secondary(1)
    await cluster.wait_up(*NAMES)
    await _leader(cluster, expected="master")
    return cluster


async def _leader(cluster: Cluster, expected: str | None = None, among: tuple[str, ...] = NAMES) -> str:
    """The leader every node in `among` agrees on (and that says so itself), once there is one."""
    found = ""

    async def agreed() -> bool:
        nonlocal found
        views = [await cluster.health(name) for name in among]
        leaders = {(view["leader"] or {}).get("name") for view in views}
        if len(leaders) != 1 or None in leaders:
            return False
        (found,) = leaders
        leader_view = next((v for v in views if v["name"] == found), None)
        ok = leader_view is None or leader_view["role"] == "leader"
        return ok and (expected is None or found == expected)

    await until(agreed, 20, f"{among} to agree on a leader" + (f" ({expected})" if expected else ""))
    return found


def _urls(cluster: Cluster) -> list[str]:
    return [cluster.url(name) for name in NAMES]


class Load:
    """Appends with w=2 through a client that knows every node, until stopped; records what was acked."""

    def __init__(self, cluster: Cluster, prefix: str, count_max: int = 3000, seconds_max: float = 60) -> None:
        self.acked: dict[str, int] = {}
        self.ack_times: list[float] = []
        self._client = AsyncClient(_urls(cluster), failover_timeout=20)
        self._prefix, self._count_max, self._deadline = prefix, count_max, time.monotonic() + seconds_max
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        async with self._client as client:
            for i in range(self._count_max):
                if self._stop.is_set() or time.monotonic() > self._deadline:
                    return
                msg = f"{self._prefix}-{i}"
                result = await client.append(msg, w=2, request_id=msg)
                self.acked[msg] = result.index
                self.ack_times.append(time.monotonic())

    async def acked_after(self, moment: float, timeout_s: float = 20) -> float:
        async def one() -> bool:
            return any(t > moment for t in self.ack_times)

        await until(one, timeout_s, "an acknowledged append after the fault")
        return min(t for t in self.ack_times if t > moment) - moment

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(self._task, 30)


async def _converged(cluster: Cluster, names: tuple[str, ...] = NAMES) -> list[dict[str, Any]]:
    logs: list[list[dict[str, Any]]] = []

    async def same() -> bool:
        logs.clear()
        for name in names:
            session = await cluster.http()
            async with session.get(cluster.url(name) + "/?detail=1") as response:
                logs.append(await response.json())
        return all(log == logs[0] for log in logs)

    await until(same, 30, f"{names} to hold the same log")
    return logs[0]


def _assert_every_ack_once_in_place(acked: dict[str, int], log: list[dict[str, Any]]) -> None:
    where = {}
    for item in log:
        assert item["msg"] not in where, f"{item['msg']} appears twice"
        where[item["msg"]] = item["index"]
    lost = {msg for msg in acked if msg not in where}
    assert not lost, f"acknowledged w=2 appends lost: {sorted(lost)[:5]}"
    moved = {msg: (index, where[msg]) for msg, index in acked.items() if where[msg] != index}
    assert not moved, f"acknowledged appends moved: {list(moved.items())[:5]}"


async def test_a_killed_leader_is_replaced_and_no_acknowledged_write_is_lost(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = await _start(make_cluster)
    load = Load(cluster, "k")
    await until(lambda: _true(len(load.acked) >= 50), 20, "50 appends before the kill")
    killed_at = time.monotonic()
    cluster.kill("master")
    window_s = await load.acked_after(killed_at)
    new_leader = await _leader(cluster, among=("secondary-0", "secondary-1"))
    assert new_leader != "master"
    session = await cluster.http()
    async with session.get(cluster.url(new_leader) + "/metrics") as response:
        metrics = await response.text()
    term = re.search(r"^replog_term (\S+)$", metrics, re.M)
    assert "replog_is_leader 1.0" in metrics and term is not None and float(term.group(1)) >= 2
    assert re.search(r"^replog_elections_total [1-9]", metrics, re.M)
    await until(lambda: _true(len(load.acked) >= 150), 20, "100 more appends on the new leader")
    cluster.start_master()  # Back as a follower; caught up, it is handed leadership again.
    await _leader(cluster, expected="master")
    await load.stop()
    _assert_every_ack_once_in_place(load.acked, await _converged(cluster))
    print(f"kill -9 of the leader -> first acknowledged w=2 append: {window_s * 1000:.0f} ms")
    assert window_s < 10


async def test_a_wiped_master_rejoins_the_existing_log_and_leads_again(make_cluster: Callable[..., Cluster]) -> None:
    cluster = await _start(make_cluster)
    async with AsyncClient(_urls(cluster)) as client:
        for i in range(20):
            await client.append(f"old-{i}", w=3)
    log_id = (await cluster.health("secondary-0"))["log_id"]
    cluster.kill("master")
    shutil.rmtree(cluster.directory / "data" / "master")
    await _leader(cluster, among=("secondary-0", "secondary-1"))
    cluster.start_master()
    await _leader(cluster, expected="master")
    assert (await cluster.health("master"))["log_id"] == log_id
    log = await _converged(cluster)
    assert [item["msg"] for item in log] == [f"old-{i}" for i in range(20)]


async def test_step_down_hands_over_with_a_short_pause_and_loses_nothing(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = await _start(make_cluster)
    load = Load(cluster, "s")
    await until(lambda: _true(len(load.acked) >= 50), 20, "50 appends before the step-down")
    status, answer = await cluster.post_raw("master", b"", path="/admin/step-down")
    assert status == 200, answer
    assert answer["old_leader"] == "master" and answer["new_leader"] in ("secondary-0", "secondary-1")
    assert answer["term"] > answer["old_term"]
    assert answer["paused_ms"] < 1000
    await until(lambda: _true(len(load.acked) >= 150), 20, "appends on the new leader")
    await load.stop()
    _assert_every_ack_once_in_place(load.acked, await _converged(cluster))
    status, answer = await cluster.post_raw(
        "secondary-1" if answer["new_leader"] != "secondary-1" else "secondary-0", b"", path="/admin/step-down"
    )
    assert status == 409 and "is not the leader" in answer["error"]


async def test_a_page_counts_messages_not_the_indexes_of_no_ops(make_cluster: Callable[..., Cluster]) -> None:
    """Each new term's leader writes a no-op, which takes an index and is no message. A page of `limit`
    indexes used to come back short wherever one lay, and the clients, which stop at a short page, ended
    `replog list` there: 999 of 2,002 messages on a fresh cluster."""
    cluster = await _start(make_cluster)
    async with AsyncClient(_urls(cluster)) as client:
        for i in range(3):
            await client.append(f"a{i}", w=3)  # 2..4, after the first term's no-op at 1
        status, answer = await cluster.post_raw("master", b"", path="/admin/step-down")
        assert status == 200, answer
        await _leader(cluster, expected=answer["new_leader"])
        for i in range(3):
            await client.append(f"b{i}", w=3)  # after the new term's no-op
        everything = [m.msg for m in [message async for message in client.iter_messages(page_size=2)]]
    assert everything == ["a0", "a1", "a2", "b0", "b1", "b2"]
    log = await _converged(cluster)
    no_op = next(i for i in range(2, log[-1]["index"]) if i not in {item["index"] for item in log})
    session = await cluster.http()
    for name in NAMES:
        async with session.get(cluster.url(name) + "/?from=1&limit=2") as response:
            assert await response.json() == ["a0", "a1"]  # index 1 is the no-op
        async with session.get(cluster.url(name) + f"/?detail=1&from={no_op - 1}&limit=2") as response:
            assert [item["msg"] for item in await response.json()] == ["a2", "b0"]
    # What the leader has committed (a follower learns the commit index with the leader's next frame).
    async with session.get(cluster.url(answer["new_leader"]) + "/?committed=1&from=1&limit=6") as response:
        assert await response.json() == everything
    listed = subprocess.run(
        [sys.executable, "-m", "replog", "list", "--url", cluster.url("master")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert [line.split("\t")[1] for line in listed.stdout.splitlines()] == everything
    # `replog tail` starts from the node's last index, which a failover node's /health gives as last_index
    # (it read a fixed master secondary's contiguous_index, and crashed on every failover node).
    tail = subprocess.run(
        [sys.executable, "-m", "replog", "tail", "-n", "2", "--url", cluster.url("master")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert tail.returncode == 0, tail.stderr
    assert [line.split("\t")[1] for line in tail.stdout.splitlines()] == ["b1", "b2"]


async def test_a_follower_refuses_stream_appends_naming_its_leader(make_cluster: Callable[..., Cluster]) -> None:
    """A follower does not forward a /stream WebSocket: each append there is refused (503, "no leader", as a
    client given several nodes rides it out), and the refusal names the leader, not "election in progress"."""
    cluster = make_cluster(failover=True)  # T = 1 s: a busy CI machine keeps secondary-0's quorum in view
    await cluster.start_all()
    await _leader(cluster, expected="master")
    port = cluster.secondary_ports[0]
    async with PipelinedClient(f"127.0.0.1:{port}") as follower:  # host:port, as every other client takes
        with pytest.raises(PipelineError) as refused:
            await follower.append("x", w=2)
    assert refused.value.status == 503
    leader, term = cluster.url("master"), (await cluster.health("secondary-0"))["term"]
    assert str(refused.value) == f"no leader: not on secondary-0, which follows master at {leader} (term {term})"
    async with AsyncClient(cluster.url("secondary-1")) as client:  # asked of a follower, it goes to the leader
        handed = await client.step_down()
        await _leader(cluster, expected=handed.new_leader)
    # The new leader's no-op is now the last index: the last two messages are still the last two appended.
    async with AsyncClient(_urls(cluster)) as client:
        for msg in ("m1", "m2"):
            await client.append(msg, w=3)
        status, answer = await cluster.post_raw(handed.new_leader, b"", path="/admin/step-down")
        assert status == 200, answer
        await _leader(cluster, expected=answer["new_leader"])
    tail = subprocess.run(
        [sys.executable, "-m", "replog", "tail", "-n", "2", "--url", cluster.url(answer["new_leader"])],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert [line.split("\t")[1] for line in tail.stdout.splitlines()] == ["m1", "m2"], tail.stderr
    closed = f"127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionFailed, match=f"cannot open http://{closed}/stream"):
        await PipelinedClient(closed).connect()


async def test_writes_a_failover_undoes_are_in_a_rollback_file(make_cluster: Callable[..., Cluster]) -> None:
    """The leader takes w=1 appends that never leave it (its followers are frozen, then killed with
    the frames still unread in their sockets); the others elect a leader without them; the old leader
    comes back, and drops them into a rollback file, fsynced, before it follows."""
    cluster = await _start(make_cluster)
    async with AsyncClient(cluster.url("master")) as client:
        await client.append("kept", w=3)
        for name in ("secondary-0", "secondary-1"):
            cluster.signal(name, signal.SIGSTOP)
        doomed = [await client.append(f"doomed-{i}", w=1) for i in range(2)]
    for name in NAMES:
        cluster.kill(name)
    cluster.start_secondary(0)
    cluster.start_secondary(1)
    await _leader(cluster, among=("secondary-0", "secondary-1"))
    cluster.start_master()
    log = await _converged(cluster)
    assert [item["msg"] for item in log] == ["kept"]
    (rollback,) = (cluster.directory / "data" / "master" / "rollback").iterdir()
    rows = [json.loads(line) for line in rollback.read_text().splitlines()]
    assert [(row["index"], row["msg"]) for row in rows] == [(r.index, f"doomed-{i}") for i, r in enumerate(doomed)]
    assert (await cluster.health("master"))["rolled_back"] == 2
    assert "rolled back 2 entries" in cluster.log_text("master")


async def test_any_node_takes_appends_and_committed_reads_never_go_back(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = await _start(make_cluster)
    status, answer = await cluster.post_raw("secondary-1", json.dumps({"msg": "via-follower", "w": 3}).encode())
    assert status == 201, answer
    assert await cluster.messages("master") == ["via-follower"]
    session = await cluster.http()

    async def committed(name: str) -> list[str]:
        async with session.get(cluster.url(name) + "/?committed=1") as response:
            return list(await response.json())

    await until(lambda: _same(committed("secondary-0"), ["via-follower"]), 10, "the committed read to show it")
    cluster.kill("secondary-0")
    cluster.kill("secondary-1")

    async def refused() -> bool:
        status, answer = await cluster.post_raw("master", json.dumps({"msg": "x", "w": 1}).encode())
        return status == 503 and answer["error"] == "read-only: no quorum (1 of 3 nodes alive, 2 needed)"

    await until(refused, 20, "the master alone to refuse appends with the no-quorum error")
    assert await committed("master") == ["via-follower"]

    # A node that does not lead counts the appends it turns away, as a leader does.
    async def stepped_down() -> bool:
        return (await cluster.health("master"))["role"] != "leader"

    await until(stepped_down, 20, "the master to step down")
    before = await _refusals_counted(cluster, "master")
    assert (await cluster.post_raw("master", json.dumps({"msg": "y", "w": 2}).encode()))[0] == 503
    assert await _refusals_counted(cluster, "master") == before + 1  # under default_w: the body is not read


async def _refusals_counted(cluster: Cluster, name: str) -> float:
    """The appends a node has answered "no leader" or "read-only", under w=1 (the default w)."""
    async with (await cluster.http()).get(cluster.url(name) + "/metrics") as response:
        lines = (await response.text()).splitlines()
    series = [f'replog_appends_total{{outcome="{outcome}",w="1"}} ' for outcome in ("no_leader", "read_only")]
    return sum(float(line.split()[-1]) for line in lines if line.startswith(tuple(series)))


async def _same(got: Any, expected: Any) -> bool:
    return bool(await got == expected)


async def _true(value: bool) -> bool:
    return value


async def test_a_node_whose_node_list_differs_refuses_to_run(make_cluster: Callable[..., Cluster]) -> None:
    cluster = await _start(make_cluster)
    cluster.kill("secondary-1")
    # secondary-0's entry names the master's address: that node answers that it is the master.
    wrong = ["--secondaries", f"127.0.0.1:{cluster.master_port},127.0.0.1:{cluster.secondary_ports[1]}"]
    command = [sys.executable, "-m", "replog", "secondary", "--id", "1", "--config", str(cluster.config_file), *wrong]
    run = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr[-2000:]
    assert "the node lists differ in order or addresses" in run.stderr
