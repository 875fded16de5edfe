"""`replog chaos` end to end: a 60-second run under every kind of fault must keep every promise.

The run is made once (it is the slow part), side by side with the suite's other chaos runs, and
shared: one test judges it, another plants violations in its recorded history to show the checker
would have caught them. The fault proxy gets a short test of its own against an echo server.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import time

import pytest

from replog.chaos import add_arguments
from replog.chaos.checker import check
from replog.chaos.history import FinalRecord, History, load_history
from replog.chaos.proxy import FaultProxy
from replog.chaos.report import format_summary
from replog.chaos.schedule import CLASSIC_KINDS
from tests.started_together import FinishedRun, StartedTogether

pytestmark = pytest.mark.e2e

SEED = 20240601
DURATION_S = 60.0


STARTED_TOGETHER = ["--no-failover", "--duration", str(DURATION_S), "--seed", str(SEED), "--clients", "4"]


@pytest.fixture(scope="module")
def chaos_run(started_together: StartedTogether) -> FinishedRun:
    return started_together.result(__name__)


def test_a_60_second_chaos_run_keeps_every_promise(chaos_run: FinishedRun) -> None:
    summary = chaos_run.summary
    report = format_summary(summary)
    assert chaos_run.returncode == 0, chaos_run.tail
    assert summary["violations"] == 0 and check(load_history(chaos_run.history_path)) == [], report
    assert not summary["failover"], report  # the fixed master's run
    assert summary["converged"], report
    assert summary["acknowledged"] > 0, report
    assert summary["streamed_acknowledged"] > 0, report  # the client on /stream was judged too
    assert all(summary["faults"][kind.value] > 0 for kind in CLASSIC_KINDS), report
    assert summary["appends"] == summary["acknowledged"] + summary["failed"] + summary["timed_out"] + summary["unknown"]
    assert chaos_run.history_path.exists()
    assert json.loads(chaos_run.history_path.read_text().splitlines()[0])["seed"] == SEED


def _tampered(history: History, node: str, log: list[str]) -> History:
    finals = [FinalRecord(f.node, tuple(log), f.converged) if f.node == node else f for f in history.finals]
    return dataclasses.replace(history, finals=finals)


def test_the_checker_flags_violations_planted_in_the_recorded_history(chaos_run: FinishedRun) -> None:
    history = load_history(chaos_run.history_path)
    assert check(history) == []
    master = next(f for f in history.finals if f.node == "master")
    acknowledged = [a for a in history.appends if a.outcome == "ok" and not a.duplicate]
    lost = acknowledged[len(acknowledged) // 2].msg

    dropped = _tampered(history, "secondary-1", [m for m in master.log if m != lost])
    assert {"ack_missing", "final_logs_differ"} <= {v.rule for v in check(dropped)}

    # An append of the client on /stream is judged as strictly: lost, or answered at a neighbour's index.
    streamed = next(a for a in acknowledged if a.client == history.meta["stream_client"])
    assert "ack_missing" in {
        v.rule for v in check(_tampered(history, "master", [m for m in master.log if m != streamed.msg]))
    }
    shifted = [dataclasses.replace(a, index=(a.index or 0) + 1) if a is streamed else a for a in history.appends]
    assert "wrong_index" in {v.rule for v in check(dataclasses.replace(history, appends=shifted))}

    doubled = _tampered(history, "master", [*master.log, lost])
    assert "duplicate_message" in {v.rule for v in check(doubled)}

    # Swap the first and last acknowledged entries on every node: order and indexes are now wrong.
    first, last = acknowledged[0], acknowledged[-1]
    swapped_log = [last.msg if m == first.msg else first.msg if m == last.msg else m for m in master.log]
    swapped = history
    for node in ("master", "secondary-0", "secondary-1"):
        swapped = _tampered(swapped, node, swapped_log)
    assert "wrong_index" in {v.rule for v in check(swapped)}

    answers = sorted((a for a in acknowledged), key=lambda a: a.invoke)
    early, late = answers[0], answers[-1]
    reordered = dataclasses.replace(
        history,
        appends=[dataclasses.replace(a, index=late.index) if a is early else a for a in history.appends],
    )
    assert "real_time_order" in {v.rule for v in check(reordered)}


def test_the_chaos_flags_and_their_defaults() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    assert (args.duration, args.seed, args.clients, args.json, args.data_dir) == (60.0, 1, 4, False, None)
    assert args.failover is True  # failover is the product's default, and the chaos run's
    args = parser.parse_args(["--duration", "5", "--seed", "9", "--clients", "2", "--json", "--no-failover"])
    assert (args.duration, args.seed, args.clients, args.json, args.failover) == (5.0, 9, 2, True, False)
    with pytest.raises(SystemExit):
        parser.parse_args(["--clients", "0"])


async def _echo_server() -> asyncio.Server:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


async def _round_trip(port: int, timeout_s: float = 1.0) -> tuple[bytes | None, float]:
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout_s)
        writer.write(b"ping")
        data = await asyncio.wait_for(reader.read(4), timeout_s)
        writer.close()
    except (OSError, TimeoutError):
        return None, time.monotonic() - started
    return data or None, time.monotonic() - started


async def test_the_fault_proxy_passes_delays_blackholes_drops_and_heals() -> None:
    server = await _echo_server()
    proxy = FaultProxy("proxy-0", int(server.sockets[0].getsockname()[1]))
    await proxy.start()
    try:
        assert (await _round_trip(proxy.port))[0] == b"ping"
        proxy.set_delay(200)
        data, took = await _round_trip(proxy.port)
        assert data == b"ping" and took >= 0.4  # 200 ms each way
        proxy.heal()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        proxy.blackhole()
        assert (await _round_trip(proxy.port, timeout_s=0.3))[0] is None
        writer.write(b"lost")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(4), 0.3)
        proxy.heal()
        assert await asyncio.wait_for(reader.read(4), 1.0) == b""  # tainted by the blackhole: reset at heal
        writer.close()
        proxy.drop(refuse=True)
        assert (await _round_trip(proxy.port))[0] is None
        proxy.heal()
        assert (await _round_trip(proxy.port))[0] == b"ping"
    finally:
        await proxy.close()
        server.close()


async def test_the_fault_proxy_cuts_one_direction_only() -> None:
    """upstream cut: the target stops hearing the dialler, who still hears the target; and the reverse."""
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello")  # the target speaks first, then records what it hears
        await writer.drain()
        while data := await reader.read(1024):
            await received.put(data)

    server = await asyncio.start_server(talk, "127.0.0.1", 0)
    proxy = FaultProxy("a>b", int(server.sockets[0].getsockname()[1]))
    await proxy.start()
    try:
        proxy.blackhole(upstream=True, downstream=False)
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await asyncio.wait_for(reader.readexactly(5), 1.0) == b"hello"  # the dialler hears the target
        writer.write(b"lost")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(received.get(), 0.3)  # the target does not hear the dialler
        proxy.heal()
        assert await asyncio.wait_for(reader.read(4), 1.0) == b""  # tainted: reset at heal
        writer.close()
        proxy.blackhole(upstream=False, downstream=True)
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"heard")
        await writer.drain()
        assert await asyncio.wait_for(received.get(), 1.0) == b"heard"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(5), 0.3)
        writer.close()
    finally:
        await proxy.close()
        server.close()
