"""The /proc arithmetic of the bench's CPU column."""

from __future__ import annotations

import os
import subprocess
import sys

from replog.bench.cpu import CLOCK_TICKS, cpu_ms_per_1000, cpu_seconds, descendants, stat_ticks

# A real-shaped /proc/<pid>/stat line whose comm holds a space and a ')': utime 1234, stime 567.
STAT = "4242 (py thon) x) S 1 4242 4242 0 -1 4194560 9000 0 0 0 1234 567 8 9 20 0 3 0 100 1000 200"


def test_utime_plus_stime_after_an_awkward_comm() -> None:
    assert stat_ticks(STAT) == 1234 + 567


def test_per_1000_messages() -> None:
    assert cpu_ms_per_1000(0.116, 1000) == 116.0
    assert cpu_ms_per_1000(2.32, 20_000) == 116.0


def test_own_process_counts_and_grows() -> None:
    assert os.getpid() in descendants([os.getpid()])
    before = cpu_seconds([os.getpid()])
    sum(i * i for i in range(3_000_000))  # burn a few tens of ms of CPU
    assert cpu_seconds([os.getpid()]) - before >= 1 / CLOCK_TICKS


def test_descendants_include_a_child_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert child.pid in descendants([os.getpid()])
    finally:
        child.kill()
        child.wait()
