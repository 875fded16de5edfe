"""`replog bench --failover` and `--steady` run end to end: a smoke test of the tool, not a timed test.

A short election timeout keeps it quick (3 kills, 5 s of steady load); only the report's shape and
what must hold on any machine are checked: every round measured, nothing acknowledged lost,
duplicated or moved. The windows and latencies are figures for the bench to print, not assertions.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_bench_failover_and_steady_report_windows_and_lose_nothing() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "replog",
            "bench",
            "--failover",
            "--kills",
            "3",
            "--clients",
            "2",
            "--steady",
            "5",
            "--election-timeout",
            "0.3",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(run.stdout)
    failover, steady = report["failover"], report["steady"]
    assert failover["errors"] == []
    assert len(failover["rounds"]) == 3
    assert failover["lost"] == 0 and failover["duplicated"] == 0 and failover["moved"] == 0
    assert failover["acknowledged"] > 0 and failover["log_entries"] >= failover["acknowledged"]
    assert failover["elections"] >= 3  # each kill takes at least one new term
    for key in ("window_s", "election_s", "pickup_s"):
        assert set(failover[key]) == {"p50", "p99", "max"}
        assert failover[key]["p50"] <= failover[key]["p99"] <= failover[key]["max"]
    assert failover["window_s"]["p50"] > 0
    for one in failover["rounds"]:
        assert one["killed"] != one["new_leader"] and 0 < one["elected_s"] <= one["window_s"] + 1
    assert steady["messages"] > 0 and steady["msgs_per_s"] > 0
    assert 0 < steady["p50_ms"] <= steady["p99_ms"]
    assert {"elections", "leader_changes", "terms_gained"} <= set(steady)
    assert "[3/3] killed" in run.stderr  # the progress line
