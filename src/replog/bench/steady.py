"""`replog bench --steady SECONDS`: a failover cluster under continuous w=3 load and no faults.

A healthy leader must never be taken for a dead one: a GC pause, an fsync stall or an event loop busy
with appends must not start an election. The cluster (failover on, otherwise the given settings, the
defaults when none) elects the master, then the shared load generator drives it with w=3 appends from
64 keep-alive connections, as the `http` row does, for SECONDS. The report is that load's figures and
the elections and leader changes every node counted during it (the /metrics gauges), which should be 0.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replog.bench.failover_cluster import NAMES, FailoverCluster, poll_until
from replog.bench.loadgen import LoadResult, Progress, http_post, run_http

__all__ = ["SteadyReport", "run_steady"]

PAYLOAD = "x" * 100
CONCURRENCY = 64
WATCH_S = 0.5


@dataclass
class SteadyReport:
    seconds: float
    settings: dict[str, Any]
    concurrency: int = CONCURRENCY
    result: LoadResult = field(default_factory=LoadResult)
    elections: int = 0  # pre-vote rounds any node started during the load (replog_elections)
    leader_changes: int = 0  # new leaders any node saw during the load (replog_leader_changes)
    terms_gained: int = 0
    leader_moves: list[str] = field(default_factory=list)  # "at 12.3 s: secondary-0 leads term 3"

    def lines(self) -> list[str]:
        r = self.result
        t = self.settings.get("election_timeout_seconds", 1.0)
        return [
            f"replog bench --steady {self.seconds:g}: w=3 HTTP appends from {self.concurrency} connections, "
            f"no faults; failover on, T = {t:g} s, storage {self.settings.get('storage', 'disk')}, "
            f"fsync {self.settings.get('fsync', 'always')}",
            f"  appends: {r.messages:,} in {r.seconds:.1f} s = {r.rate:,.0f}/s; errors {r.errors}; "
            f"p50 {r.percentile_ms(0.5):.2f} ms, p99 {r.percentile_ms(0.99):.2f} ms, "
            f"max {max(r.latencies_s, default=0) * 1000:.0f} ms",
            f"  elections started: {self.elections}; leader changes seen: {self.leader_changes}; "
            f"terms gained: {self.terms_gained}",
            *(f"  {move}" for move in self.leader_moves),
        ]

    def as_json(self) -> dict[str, Any]:
        r = self.result
        return {
            "seconds": self.seconds,
            "settings": self.settings,
            "concurrency": self.concurrency,
            "messages": r.messages,
            "errors": r.errors,
            "msgs_per_s": round(r.rate, 1),
            "p50_ms": round(r.percentile_ms(0.5), 3),
            "p99_ms": round(r.percentile_ms(0.99), 3),
            "max_ms": round(max(r.latencies_s, default=0) * 1000, 3),
            "elections": self.elections,
            "leader_changes": self.leader_changes,
            "terms_gained": self.terms_gained,
            "leader_moves": self.leader_moves,
        }


async def run_steady(seconds: float, progress: Progress | None = None, **settings: Any) -> SteadyReport:
    report = SteadyReport(seconds, settings)
    with tempfile.TemporaryDirectory(prefix="replog-steady-") as tmp:
        cluster = FailoverCluster(Path(tmp), **settings)
        try:
            await _run(cluster, report, progress)
        finally:
            await cluster.close()
    return report


async def _counters(cluster: FailoverCluster) -> tuple[int, int]:
    """(elections, leader changes) summed over the nodes."""
    elections = [await cluster.metric(name, "replog_elections_total") for name in NAMES]
    changes = [await cluster.metric(name, "replog_leader_changes_total") for name in NAMES]
    if None in elections or None in changes:
        raise RuntimeError("a node did not answer /metrics")
    return int(sum(elections)), int(sum(changes))  # type: ignore[arg-type]


async def _run(cluster: FailoverCluster, report: SteadyReport, progress: Progress | None) -> None:
    for name in NAMES:
        cluster.start(name)

    async def master_leads() -> bool:
        return await cluster.stable(want_leader="master") == "master"

    await poll_until(master_leads, 60, "the master to lead with every node up and level")
    term = int((await cluster.health("master") or {})["term"])
    elections, changes = await _counters(cluster)
    started = time.monotonic()
    watcher = asyncio.get_running_loop().create_task(_watch(cluster, term, started, report))
    request = http_post("/", {"msg": PAYLOAD, "w": 3})
    try:
        report.result = await run_http(
            cluster.ports["master"],
            lambda _number: request,
            concurrency=report.concurrency,
            count=10**9,
            deadline_s=report.seconds,
            progress=progress,
        )
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    after_elections, after_changes = await _counters(cluster)
    report.elections, report.leader_changes = after_elections - elections, after_changes - changes
    views = [view for view in (await cluster.healths()).values() if view is not None]
    report.terms_gained = max(int(view["term"]) for view in views) - term


async def _watch(cluster: FailoverCluster, term: int, started: float, report: SteadyReport) -> None:
    """Note when the leader or its term changes during the load (so a false failover can be placed)."""
    known = ("master", term)
    while True:
        await asyncio.sleep(WATCH_S)  # why: a light poll of /health beside the load; cancelled when it ends
        found = await cluster.leader()
        if found is not None and found != known:
            known = found
            report.leader_moves.append(f"at {time.monotonic() - started:.1f} s: {found[0]} leads term {found[1]}")
