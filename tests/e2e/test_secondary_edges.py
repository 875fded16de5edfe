"""A real secondary under a hostile replication peer, its injected stalls, and bad settings at start."""

from __future__ import annotations

import random
import subprocess
import sys
from array import array
from collections.abc import Callable

import aiohttp
import pytest

from replog.core.messages import Append, Error, Hello, Welcome
from replog.net.peer_link import MASTER_INSTANCE_HEADER
from replog.storage.records import encode_records
from replog.types import Entry, RecordRun
from replog.wire import codec
from tests.e2e.cluster import Cluster, until

pytestmark = pytest.mark.e2e


async def _fake_master(cluster: Cluster, instance: str = "") -> aiohttp.ClientWebSocketResponse:
    session = await cluster.http()
    headers = {MASTER_INSTANCE_HEADER: instance} if instance else None
    ws = await session.ws_connect(cluster.url("secondary-0") + "/replication", headers=headers)
    hello = codec.decode((await ws.receive(timeout=5)).data)
    assert isinstance(hello, Hello)
    return ws


async def test_bad_frames_close_the_link_and_store_nothing_out_of_order(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster()
    cluster.start_secondary(0)
    await cluster.wait_up("secondary-0")
    ws = await _fake_master(cluster)
    await ws.send_bytes(codec.encode(Welcome("fuzz-log", 3)))
    await ws.send_bytes(codec.encode(Append(0, (Entry(1, b"a"), Entry(2, b"b"), Entry(3, b"c")))))

    async def stored_three() -> bool:
        return await cluster.messages("secondary-0") == ["a", "b", "c"]

    await until(stored_three, 10, "the valid batch to be stored")
    await ws.close()  # While it stays open and live, another master is refused (one master at a time).
    rng = random.Random(5)
    valid = codec.encode(Append(3, (Entry(4, b"d"),)))
    bad_frames = [
        codec.encode(Append(7, (Entry(8, b"gap"),))),  # a hole after 3
        bytes([3]) + rng.randbytes(40),  # garbage body
        valid[:-3],  # cut short
        bytes([99]) + valid[1:],  # unknown kind
        b"",
    ]
    for bad in bad_frames:
        ws = await _fake_master(cluster)
        await ws.send_bytes(codec.encode(Welcome("fuzz-log", 3)))
        await ws.send_bytes(bad)
        closed = await ws.receive(timeout=10)
        while closed.type is aiohttp.WSMsgType.BINARY:  # an Ack or an Error frame may come first
            closed = await ws.receive(timeout=10)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        await ws.close()
        assert await cluster.messages("secondary-0") == ["a", "b", "c"]
    assert "protocol error" in cluster.log_text("secondary-0")
    assert (await cluster.health("secondary-0"))["contiguous_index"] == 3


async def test_only_the_same_master_may_replace_a_live_connection(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster()
    cluster.start_secondary(0)
    await cluster.wait_up("secondary-0")
    first = await _fake_master(cluster, instance="master-a")
    await first.send_bytes(codec.encode(Welcome("log", 0)))
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await _fake_master(cluster, instance="master-b")
    assert refused.value.status == 409
    assert "refused a second master from 127.0.0.1" in cluster.log_text("secondary-0")
    again = await _fake_master(cluster, instance="master-a")  # The same master redialling: accepted.
    assert (await first.receive(timeout=10)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert "the master at 127.0.0.1 redialled" in cluster.log_text("secondary-0")
    await again.close()
    await first.close()


async def test_internal_looping_and_server_unavailable_faults(cluster: Cluster) -> None:
    await cluster.set_faults("secondary-0", internal_looping=2)
    await cluster.wait_status(0, "Unhealthy", timeout_s=10)  # heartbeats unanswered
    await cluster.wait_status(0, "Healthy", timeout_s=15)  # and back once the stall ends
    await cluster.set_faults("secondary-1", server_unavailable=3)
    cluster.kill("secondary-1")
    cluster.start_secondary(1, env={"REPLOG_DELIVERY_FAILURE": '{"1": {"server_unavailable": 3}}'})
    await cluster.wait_up("secondary-1")

    async def refused_logged() -> bool:
        return "refusing the master's connection" in cluster.log_text("secondary-1")

    await until(refused_logged, 10, "secondary 1 to refuse the master while unavailable")
    assert (await cluster.append("w2 meanwhile", w=2))[0] == 201
    await cluster.wait_status(1, "Healthy", timeout_s=20)
    assert await cluster.wait_converged(["secondary-0", "secondary-1"]) == ["w2 meanwhile"]


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--heartbeat-seconds", "abc"], "heartbeat_seconds (from --heartbeat-seconds)"),
        (["--master", "nowhere"], "bad setting master"),
        (["--suspect-after-seconds", "9"], "heartbeat_seconds < suspect_after_seconds < unhealthy_after_seconds"),
        (["--fsync", "sometimes"], "bad setting fsync"),
    ],
)
def test_a_bad_setting_stops_the_node_naming_it(flags: list[str], words: str) -> None:
    run = subprocess.run([sys.executable, "-m", "replog", "master", *flags], capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    assert words in run.stderr


async def test_a_flag_overrides_the_environment(make_cluster: Callable[..., Cluster]) -> None:
    """The environment's valid default_w=2 loses to the flag's invalid 9, which stops the node."""
    cluster = make_cluster()
    run = subprocess.run(
        [sys.executable, "-m", "replog", "master", "--config", str(cluster.config_file), "--default-w", "9"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"REPLOG_DEFAULT_W": "2", "PATH": ""},
    )
    assert run.returncode == 2 and "default_w: 9 exceeds 1..3" in run.stderr


async def test_a_damaged_record_in_a_catch_up_frame_is_refused_by_name_and_nothing_stored(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster()
    cluster.start_secondary(0)
    await cluster.wait_up("secondary-0")
    records = [r.head + r.payload for r in encode_records([Entry(i, b"payload-%d" % i) for i in (1, 2, 3)])]
    data = bytearray(b"".join(records))
    data[len(records[0]) + len(records[1]) - 1] ^= 0x01  # the last payload byte of record 2
    run = RecordRun(1, bytes(data), array("Q", [len(data)]), ((0, 1),))  # the leader's side does not check
    ws = await _fake_master(cluster)
    await ws.send_bytes(codec.encode(Welcome("disk-log", 3)))
    await ws.send_bytes(codec.encode(Append(0, run)))
    error = codec.decode((await ws.receive(timeout=10)).data)
    assert error == Error("protocol", "Append of records after 0: record 2: crc mismatch")
    assert (await ws.receive(timeout=10)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await ws.close()
    assert await cluster.messages("secondary-0") == []
    assert "record 2: crc mismatch" in cluster.log_text("secondary-0")
