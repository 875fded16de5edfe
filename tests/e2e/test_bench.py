"""`replog bench` runs end to end and prints its table: a smoke test of the tool, not a timed test.

Speed is measured by the bench itself; here only its shape is checked (every requested row present,
a figure in each, the ratio to the reference row), with a tiny message count.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_bench_prints_rows_with_figures_and_ratios() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "replog",
            "bench",
            "--only",
            "bare,http,pipelined",
            "--count",
            "300",
            "--seconds",
            "10",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {row["key"]: row for row in json.loads(run.stdout)}
    assert set(rows) == {"bare", "http", "pipelined"}
    for row in rows.values():
        assert row["messages"] == 300 and row["errors"] == 0
        assert row["msgs_per_s"] > 0 and 0 < row["p50_ms"] <= row["p99_ms"]
        assert row["cpu_ms_per_1000"] > 0, row  # the servers' CPU per 1,000 acks, from /proc
    assert rows["http"]["vs_reference"].endswith("msgs/s of bare aiohttp POST handler, no replication")
    assert "[3/3] pipelined" in run.stderr  # the progress bar


def test_bench_tls_rows_carry_figures_and_their_ratio_to_the_plain_rows() -> None:
    only = "http,http-tls,pipelined,pipelined-tls"
    run = subprocess.run(
        [sys.executable, "-m", "replog", "bench", "--only", only, "--count", "200", "--seconds", "10", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {row["key"]: row for row in json.loads(run.stdout)}
    assert list(rows) == only.split(",")  # each TLS row printed beside its plain one
    for key in ("http-tls", "pipelined-tls"):
        row = rows[key]
        assert row["messages"] == 200 and row["errors"] == 0 and row["msgs_per_s"] > 0, row
        assert "TLS on every link" in row["mode"]
        plain = rows[key.removesuffix("-tls")]
        assert row["vs_reference"].endswith(f"msgs/s of replog {plain['mode']}")


def test_bench_rounds_run_each_row_again_and_keep_every_round() -> None:
    only = "bare,http"
    command = [sys.executable, "-m", "replog", "bench", "--only", only, "--count", "200", "--rounds", "2", "--json"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {row["key"]: row for row in json.loads(run.stdout)}
    assert list(rows) == ["bare", "http"]
    assert all(len(row["rounds"]) == 2 for row in rows.values())
    assert all(r["msgs_per_s"] > 0 and r["cpu_ms_per_1000"] > 0 for row in rows.values() for r in row["rounds"])
    assert "(paired rounds " in rows["http"]["vs_reference"]
    assert "[4/4] http" in run.stderr  # the second round's rows are counted on from the first's
    refused = subprocess.run([*command[:-2], "0"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--rounds: must be at least 1, got 0" in refused.stderr
