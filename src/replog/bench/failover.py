"""`replog bench --failover`: kill -9 the leader N times under w=2 load; the unavailability window each time.

1. A 3-node cluster with failover on and otherwise default settings (disk, fsync always, T = 1.0 s)
   elects the master; a few writers (`writers.Writers`, all three URLs each) append with w=2.
2. Each round: find the leader, kill -9 it, and measure from the kill to the first w=2 append
   acknowledged by another node (the window); meanwhile poll the survivors to see when one says it
   leads (the election's share of the window). Restart the killed node and wait until the cluster is
   stable again: all up, level, led by the master (which takes leadership back from a secondary by a
   clean transfer, not a kill: its pause is reported apart, as the longest gap between acks).
3. At the end: every acknowledged append must be in every node's log exactly once, at the index it
   was acknowledged with; terms gained (elections) and entries rolled back are counted.
Timings are figures, not assertions; only lost/duplicated/moved acknowledged writes are failures.
"""

from __future__ import annotations

import asyncio
import math
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replog.bench.failover_cluster import NAMES, FailoverCluster, poll_until
from replog.bench.writers import Writers

__all__ = ["FailoverReport", "Round", "percentile", "run_failover"]

START_TIMEOUT_S = 60.0
WINDOW_TIMEOUT_S = 60.0
STABLE_TIMEOUT_S = 120.0
ACKS_BEFORE_KILL = 20  # the load must be flowing on the current leader before it is killed
HAND_BACK_TIMEOUTS = 10  # wait this many T for the master to take leadership back (it does after ~5 T level)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (with 20 samples, p99 is the largest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Round:
    killed: str
    term_before: int
    window_s: float  # kill -> first w=2 ack by another node
    elected_s: float  # kill -> a survivor says it leads a later term (polled every 20 ms)
    new_leader: str
    recovered_s: float  # restart -> cluster stable again (master leading, everyone level)
    hand_back_pause_s: float  # longest gap between acks from the restart to stable (0 if no hand-back)


@dataclass
class FailoverReport:
    kills: int
    clients: int
    settings: dict[str, Any]
    rounds: list[Round] = field(default_factory=list)
    acknowledged: int = 0
    failed: int = 0  # the client gave up: outcome unknown (may or may not be in the log)
    terms_gained: int = 0  # after the first leader: by elections and by hand-backs
    rolled_back: int = 0
    lost: int = 0
    duplicated: int = 0
    moved: int = 0
    log_entries: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # why the client gave up, by the error's first words
    hand_backs: int = 0  # clean transfers back to the master (each takes a term, as an election does)
    hand_backs_missed: int = 0  # rounds after which the master did not take leadership back in time
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def _figures(self, pick: Callable[[Round], float], rounds: list[Round] | None = None) -> dict[str, float]:
        values = [pick(r) for r in (self.rounds if rounds is None else rounds)]
        return {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99), "max": max(values, default=math.nan)}

    @property
    def elections(self) -> int:
        return self.terms_gained - self.hand_backs

    @property
    def window(self) -> dict[str, float]:
        return self._figures(lambda r: r.window_s)

    @property
    def election(self) -> dict[str, float]:
        return self._figures(lambda r: r.elected_s)

    @property
    def pickup(self) -> dict[str, float]:
        return self._figures(lambda r: r.window_s - r.elected_s)

    @property
    def hand_back(self) -> dict[str, float]:
        handed_back = [r for r in self.rounds if r.hand_back_pause_s > 0]
        return self._figures(lambda r: r.hand_back_pause_s, handed_back)

    def lines(self) -> list[str]:
        t = self.settings.get("election_timeout_seconds", 1.0)

        def trio(figures: dict[str, float]) -> str:
            return " | ".join(f"{figures[k]:>6.3f}" for k in ("p50", "p99", "max"))

        rows = [
            ("kill -> first acked w=2 append (window)", self.window),
            ("  kill -> a survivor leads (election)", self.election),
            ("  leader -> first ack (retry, forward, no-op)", self.pickup),
            ("master hand-back pause (largest ack gap)", self.hand_back),
        ]
        width = max(len(name) for name, _ in rows)
        out = [
            f"replog bench --failover: {len(self.rounds)} of {self.kills} kill -9 of the leader under w=2 load "
            f"({self.clients} clients, all 3 URLs); failover on, T = {t:g} s, "
            f"storage {self.settings.get('storage', 'disk')}, fsync {self.settings.get('fsync', 'always')}",
            f"{'seconds':<{width}} |    p50 |    p99 |    max",
            f"{'-' * width}-+--------+--------+-------",
        ]
        out += [f"{name:<{width}} | {trio(figures)}" for name, figures in rows]
        out += [
            f"appends acknowledged (w=2): {self.acknowledged:,}; failed/unknown: {self.failed:,}; "
            f"in {self.seconds:.0f} s",
            f"terms gained: {self.terms_gained} ({self.elections} elections, "
            f"{self.hand_backs} hand-backs to the master; {self.hand_backs_missed} rounds without one); "
            f"rolled-back entries: {self.rolled_back}",
            f"lost acknowledged appends: {self.lost}; duplicated: {self.duplicated}; moved: {self.moved} "
            f"(checked on all 3 logs of {self.log_entries:,} entries)",
        ]
        out += [f"  failed x{count}: {reason}" for reason, count in self.failures.items()]
        out += [f"error: {error}" for error in self.errors]
        return out

    def as_json(self) -> dict[str, Any]:
        def rounded(figures: dict[str, float]) -> dict[str, float]:
            return {k: round(v, 4) for k, v in figures.items()}

        return {
            "kills": self.kills,
            "clients": self.clients,
            "settings": self.settings,
            "window_s": rounded(self.window),
            "election_s": rounded(self.election),
            "pickup_s": rounded(self.pickup),
            "hand_back_pause_s": rounded(self.hand_back),
            "acknowledged": self.acknowledged,
            "failed": self.failed,
            "elections": self.elections,
            "terms_gained": self.terms_gained,
            "rolled_back": self.rolled_back,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "moved": self.moved,
            "log_entries": self.log_entries,
            "hand_backs_missed": self.hand_backs_missed,
            "hand_backs": self.hand_backs,
            "failures": self.failures,
            "seconds": round(self.seconds, 1),
            "rounds": [
                {
                    "killed": r.killed,
                    "new_leader": r.new_leader,
                    "term_before": r.term_before,
                    "window_s": round(r.window_s, 4),
                    "elected_s": round(r.elected_s, 4),
                    "recovered_s": round(r.recovered_s, 3),
                    "hand_back_pause_s": round(r.hand_back_pause_s, 4),
                }
                for r in self.rounds
            ],
            "errors": self.errors,
        }


async def run_failover(kills: int, clients: int = 4, **settings: Any) -> FailoverReport:
    report = FailoverReport(kills, clients, settings)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="replog-failover-") as tmp:
        cluster = FailoverCluster(Path(tmp), **settings)
        try:
            await _run(cluster, report)
        finally:
            await cluster.close()
    report.seconds = time.monotonic() - started
    return report


async def _run(cluster: FailoverCluster, report: FailoverReport) -> None:
    for name in NAMES:
        cluster.start(name)
    first_leader = await _stable(cluster, START_TIMEOUT_S)  # The master campaigns first; any leader will do.
    first_term = int((await cluster.health(first_leader) or {})["term"])
    writers = Writers(cluster.urls, report.clients, seconds_max=report.kills * 120 + 120)
    writers.start()
    try:
        for number in range(1, report.kills + 1):
            report.rounds.append(await _round(cluster, writers, report))
            _progress(number, report)
    except TimeoutError as exc:
        report.errors.append(str(exc))
    finally:
        await writers.stop()
        sys.stderr.write("\n")
    last = await _stable(cluster, STABLE_TIMEOUT_S)
    report.terms_gained = int((await cluster.health(last) or {})["term"]) - first_term
    report.acknowledged, report.failed = len(writers.acks), len(writers.failed)
    report.failures = dict(Counter(_reason(error) for error in writers.failed.values()).most_common())
    report.rolled_back = cluster.rolled_back_on_disk()
    await _check_logs(cluster, writers.acked, report)


async def _stable(cluster: FailoverCluster, timeout_s: float, want_leader: str | None = None) -> str:
    """Wait until every node is up and level under one leader (`want_leader` if given); return its name."""
    found = ""

    async def stable() -> bool:
        nonlocal found
        found = await cluster.stable(want_leader) or ""
        return bool(found)

    who = want_leader or "a leader"
    await poll_until(stable, timeout_s, f"{who} to lead with every node up and level")
    return found


async def _settle(cluster: FailoverCluster, report: FailoverReport) -> tuple[str, bool]:
    """(leader, whether the master leads): the master takes leadership back ~5 T after it is level again."""
    t = float(report.settings.get("election_timeout_seconds", 1.0))
    try:
        return await _stable(cluster, HAND_BACK_TIMEOUTS * t + STABLE_TIMEOUT_S / 4, "master"), True
    except TimeoutError:
        return await _stable(cluster, STABLE_TIMEOUT_S), False


async def _round(cluster: FailoverCluster, writers: Writers, report: FailoverReport) -> Round:
    leader = await _stable(cluster, STABLE_TIMEOUT_S)
    term = int((await cluster.health(leader) or {})["term"])
    flowing_since = time.monotonic()
    await poll_until(
        lambda: _true(writers.acked_since(flowing_since) >= ACKS_BEFORE_KILL), 30, "the load to flow before the kill"
    )
    killed_at = time.monotonic()
    cluster.kill(leader)
    survivors = tuple(name for name in NAMES if name != leader)
    elected = asyncio.get_running_loop().create_task(_elected(cluster, survivors, term, killed_at))
    try:
        await poll_until(
            lambda: _true(writers.first_ack_sent_after(killed_at) is not None),
            WINDOW_TIMEOUT_S,
            f"a w=2 append acknowledged after {leader} was killed",
        )
        new_leader, elected_s = await asyncio.wait_for(elected, WINDOW_TIMEOUT_S)
    finally:
        elected.cancel()
    first = writers.first_ack_sent_after(killed_at)
    assert first is not None
    restarted_at = time.monotonic()
    cluster.start(leader)
    _, master_leads = await _settle(cluster, report)
    stable_at = time.monotonic()
    handed_back = master_leads and new_leader != "master"
    report.hand_backs += handed_back
    report.hand_backs_missed += not master_leads
    pause = writers.largest_gap(restarted_at, stable_at) if handed_back else 0.0
    return Round(leader, term, first.at - killed_at, elected_s, new_leader, stable_at - restarted_at, pause)


async def _elected(cluster: FailoverCluster, survivors: tuple[str, ...], term: int, since: float) -> tuple[str, float]:
    """(name, seconds since `since`) of the first survivor that says it leads a term after `term`."""
    while True:
        found = await cluster.leader(survivors)
        if found is not None and found[1] > term:
            return found[0], time.monotonic() - since
        await asyncio.sleep(0.02)  # why: a new leader is only visible in /health; poll until the caller's deadline


async def _check_logs(cluster: FailoverCluster, acked: dict[str, int], report: FailoverReport) -> None:
    """Every acknowledged append in every node's log exactly once, at the index it was acknowledged with."""
    logs: list[list[dict[str, Any]]] = []

    async def converged() -> bool:
        logs[:] = [await cluster.log(name) for name in NAMES]
        return all(log == logs[0] for log in logs)

    try:
        await poll_until(converged, 60, "every node to hold the same log")
    except TimeoutError as exc:
        report.errors.append(str(exc))  # Checked below on each log anyway.
    report.log_entries = len(logs[0]) if logs else 0
    for log in logs:
        where: dict[str, int] = {}
        for item in log:
            if item["msg"] in where:
                report.duplicated += 1
            where[item["msg"]] = item["index"]
        report.lost += sum(1 for msg in acked if msg not in where)
        report.moved += sum(1 for msg, index in acked.items() if msg in where and where[msg] != index)


def _progress(number: int, report: FailoverReport) -> None:
    last = report.rounds[-1]
    sys.stderr.write(
        f"\r[{number}/{report.kills}] killed {last.killed:<11} window {last.window_s:6.3f} s "
        f"(election {last.elected_s:6.3f} s) -> {last.new_leader:<11}; back in {last.recovered_s:5.1f} s"
    )
    sys.stderr.flush()


def _reason(error: str) -> str:
    """An error's kind without the details that vary (indexes, ports, terms): its words up to a digit."""
    return re.split(r"[0-9]", error, maxsplit=1)[0].strip()[:80]


async def _true(value: bool) -> bool:
    return value
