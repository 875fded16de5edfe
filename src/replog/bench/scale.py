"""`replog bench --scale N`: a log of N messages: recovery, resident memory and catch-up.

1. Master + secondary 0 take N 100-byte messages (batches of 1,000 at w=2) while secondary 1 is down.
2. The master is killed with SIGKILL and restarted: recovery time, and its RSS holding N messages.
3. A baseline of live w=2 traffic (8 HTTP clients) gives p99 without catch-up.
4. Secondary 1 starts N entries behind: catch-up rate, the leader's peak RSS meanwhile, and the
   p99 of the same live traffic while it runs.

With failover (the default) the restarted master or secondary 0 may win the election that follows the
kill: traffic and the catch-up watch go to whichever leads. `failover=False` runs the fixed master.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from replog.bench.failover_cluster import poll_until
from replog.bench.loadgen import LoadResult, http_post, run_http
from replog.bench.systems import Children, wait_http, wait_tcp
from replog.bench.systems import free_port as _free_port

__all__ = ["ScaleReport", "run_scale"]

BATCH = 1_000
PAYLOAD = "x" * 100


@dataclass
class ScaleReport:
    messages: int
    failover: bool = True
    fill_seconds: float = 0.0
    recovery_seconds: float = 0.0
    rss_mb_stored: float = 0.0
    rss_mb_catch_up_peak: float = 0.0
    catch_up_seconds: float = 0.0
    baseline: LoadResult = field(default_factory=LoadResult)
    during: LoadResult = field(default_factory=LoadResult)

    def lines(self) -> list[str]:
        n = self.messages
        p99_base, p99_during = self.baseline.percentile_ms(0.99), self.during.percentile_ms(0.99)
        mode = "failover cluster" if self.failover else "fixed master"
        return [
            f"log of {n:,} messages of 100 bytes ({mode})",
            f"  fill (batches of {BATCH}, w=2):   {self.fill_seconds:.1f} s ({n / self.fill_seconds:,.0f} msgs/s)",
            f"  master recovery after kill -9:   {self.recovery_seconds:.2f} s"
            f" ({n / self.recovery_seconds:,.0f} entries/s, process start to listening)",
            f"  leader RSS holding the log:      {self.rss_mb_stored:.0f} MB",
            f"  catch-up of a secondary {n:,} behind: {self.catch_up_seconds:.1f} s"
            f" ({n / self.catch_up_seconds:,.0f} entries/s)",
            f"  leader RSS peak during catch-up: {self.rss_mb_catch_up_peak:.0f} MB",
            f"  live w=2 traffic p99: {p99_base:.2f} ms without catch-up, {p99_during:.2f} ms during it"
            f" ({p99_during / p99_base:.2f}x); {self.during.rate:,.0f} msgs/s during",
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "failover": self.failover,
            "fill_seconds": round(self.fill_seconds, 2),
            "recovery_seconds": round(self.recovery_seconds, 3),
            "rss_mb_stored": round(self.rss_mb_stored, 1),
            "catch_up_seconds": round(self.catch_up_seconds, 2),
            "catch_up_entries_per_s": round(self.messages / self.catch_up_seconds),
            "rss_mb_catch_up_peak": round(self.rss_mb_catch_up_peak, 1),
            "live_p99_ms_baseline": round(self.baseline.percentile_ms(0.99), 3),
            "live_p99_ms_during_catch_up": round(self.during.percentile_ms(0.99), 3),
        }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run_scale(messages: int, live_seconds: float = 5.0, *, failover: bool = True) -> ScaleReport:
    report = ScaleReport(messages, failover)
    with tempfile.TemporaryDirectory(prefix="replog-scale-") as tmp:
        directory = Path(tmp)
        children = Children(directory)
        try:
            await _run(children, directory, report, live_seconds)
        finally:
            children.stop_all()
    return report


async def _run(children: Children, directory: Path, report: ScaleReport, live_seconds: float) -> None:
    ports = [_free_port() for _ in range(3)]
    config = directory / "config.yaml"
    config.write_text(
        json.dumps(
            {
                "master": f"127.0.0.1:{ports[0]}",
                "secondaries": [f"127.0.0.1:{port}" for port in ports[1:]],
                "data_dir": str(directory / "data"),
                "log_level": "WARNING",
                "failover": report.failover,
            }
        )
    )
    python = [sys.executable, "-m", "replog"]

    def start(name: str, *args: str) -> None:
        children.start(name, [*python, *args, "--config", str(config)])

    start("master", "master")
    start("secondary-0", "secondary", "--id", "0")
    master_url = f"http://127.0.0.1:{ports[0]}"
    await wait_http(master_url + "/health", '"alive": 2')
    leader = await _leader(ports)
    report.fill_seconds = await _fill(f"http://127.0.0.1:{ports[leader]}", report.messages)

    children.processes["master"].kill()
    children.processes["master"].wait()
    started = time.perf_counter()
    start("master", "master")
    await wait_tcp(ports[0], timeout_s=600)
    report.recovery_seconds = time.perf_counter() - started
    leader = await _leader(ports)
    leader_url = f"http://127.0.0.1:{ports[leader]}"
    await wait_http(leader_url + "/health", '"alive": 2')
    leader_pid = children.pid(("master", "secondary-0")[leader])
    report.rss_mb_stored = rss_mb(leader_pid)

    live = http_post("/", {"msg": PAYLOAD, "w": 2})
    report.baseline = await run_http(
        ports[leader], lambda _n: live, concurrency=8, count=10**9, deadline_s=live_seconds
    )
    start("secondary-1", "secondary", "--id", "1")
    caught_up = asyncio.get_running_loop().create_task(_wait_caught_up(leader_url, leader_pid, report))
    report.during = await run_http(
        ports[leader], lambda _n: live, concurrency=8, count=10**9, deadline_s=live_seconds, stop=caught_up
    )
    await caught_up


async def _leader(ports: list[int], timeout_s: float = 60) -> int:
    """Which of the first two nodes leads (0 for the fixed master): polls /health until one says so."""
    found: list[int] = []
    async with aiohttp.ClientSession() as session:

        async def one_leads() -> bool:
            for node, port in enumerate(ports[:2]):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/health") as response:
                        health = await response.json()
                except aiohttp.ClientError:
                    continue
                if health.get("role") in ("master", "leader") and not health.get("read_only"):
                    found.append(node)
                    return True
            return False

        await poll_until(one_leads, timeout_s, "a leader among the first two nodes")
    return found[0]


async def _fill(master_url: str, messages: int) -> float:
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        sent = 0
        while sent < messages:
            count = min(BATCH, messages - sent)
            async with session.post(master_url + "/messages", json={"msgs": [PAYLOAD] * count, "w": 2}) as response:
                if response.status != 201:
                    raise RuntimeError(f"fill failed: HTTP {response.status} {await response.text()}")
            sent += count
            if sent % 100_000 == 0:
                sys.stderr.write(f"\r  filled {sent:,} of {messages:,}")
                sys.stderr.flush()
    sys.stderr.write("\n")
    return time.perf_counter() - started


async def _wait_caught_up(leader_url: str, leader_pid: int, report: ScaleReport) -> None:
    """Poll the leader until secondary 1 (node 2) has acked the whole fill; track the leader's peak RSS."""
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while True:
            report.rss_mb_catch_up_peak = max(report.rss_mb_catch_up_peak, rss_mb(leader_pid))
            async with session.get(leader_url + "/health") as response:
                health = await response.json()
            followers = health["peers"] if report.failover else health["secondaries"]
            node_id = 2 if report.failover else 1
            if next(f["acked_index"] for f in followers if f["id"] == node_id) >= report.messages:
                report.catch_up_seconds = time.perf_counter() - started
                return
            if time.perf_counter() - started > 600:
                raise TimeoutError("secondary 1 did not catch up within 600 s")
            await asyncio.sleep(0.05)  # why: poll /health with a deadline (the secondary has no event to wait on)
