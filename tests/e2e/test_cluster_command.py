"""`replog cluster`: a node that cannot start stops the rest; a node that dies later leaves the rest running."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.cluster import free_port

pytestmark = pytest.mark.e2e

REPLOG = [sys.executable, "-m", "replog"]


def _settings(tmp_path: Path, ports: list[int]) -> list[str]:
    return [
        *("--master", f"127.0.0.1:{ports[0]}", "--data-dir", str(tmp_path / "data"), "--log-level", "INFO"),
        *("--secondaries", f"127.0.0.1:{ports[1]},127.0.0.1:{ports[2]}"),
        *("--heartbeat-seconds", "0.1", "--suspect-after-seconds", "0.3", "--unhealthy-after-seconds", "0.6"),
        # The fixed master, so that the master's log names each secondary; failover is test_failover.py's.
        *("--failover", "false"),
    ]


def test_a_node_that_cannot_start_stops_the_others_and_is_named(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(3)]
    with socket.create_server(("127.0.0.1", ports[2])):
        run = subprocess.run(
            [*REPLOG, "cluster", *_settings(tmp_path, ports)], capture_output=True, text=True, timeout=60
        )
    assert run.returncode == 2
    assert (
        f"replog cluster: secondary-1 failed to start: replog: port {ports[2]} on 127.0.0.1 is in use "
        "(another replog node?)"
    ) in run.stderr
    assert "replog cluster: stopped the other nodes" in run.stderr
    for port in ports[:2]:  # The others were stopped, not orphaned: their ports are free again.
        with socket.create_server(("127.0.0.1", port)):
            pass


class _Output:
    """The cluster's output, read by a thread so the test can wait for a line with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, text: str, timeout_s: float = 20, count: int = 1) -> str:
        """The `count`-th line holding `text`, once it has come."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                found = [line for line in self.lines if text in line]
                if len(found) >= count:
                    return found[count - 1]
                if not self._changed.wait(max(0.0, deadline - time.monotonic())) and time.monotonic() > deadline:
                    raise AssertionError(f"no line with {text!r} within {timeout_s}s; got:\n" + "\n".join(self.lines))


def _secondary_pid(cluster_pid: int, secondary: int) -> int:
    """The pid of a node our `replog cluster` started, found among its children."""
    for child in Path(f"/proc/{cluster_pid}/task/{cluster_pid}/children").read_text().split():
        args = Path(f"/proc/{child}/cmdline").read_bytes().decode().split("\0")
        if args[3:6] == ["secondary", "--id", str(secondary)]:
            return int(child)
    raise AssertionError(f"replog cluster has no child for secondary {secondary}")


def test_a_node_that_dies_later_leaves_the_others_running(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(3)]
    settings = _settings(tmp_path, ports)
    cluster = subprocess.Popen(
        [*REPLOG, "cluster", *settings], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    restarted: subprocess.Popen[bytes] | None = None
    try:
        output = _Output(cluster)
        output.wait_for("secondary 0: Unhealthy -> Healthy")  # Both started: a kill now is a death, not
        output.wait_for("secondary 1: Unhealthy -> Healthy")  # a failed start.
        os.kill(_secondary_pid(cluster.pid, 0), signal.SIGKILL)
        output.wait_for("secondary-0 | exited with code -9")
        advice = output.wait_for("secondary-0 | the others keep running; start it again with: replog secondary --id 0")
        output.wait_for("secondary 0: Healthy -> ")  # The master noticed...
        assert cluster.poll() is None  # ...and nothing else stopped.
        command = shlex.split(advice.split("start it again with: replog ", 1)[1])
        restarted = subprocess.Popen([*REPLOG, *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        output.wait_for("secondary 0: Unhealthy -> Healthy", count=2)  # The restarted node is followed again.
    finally:
        if restarted is not None:
            restarted.terminate()
            restarted.wait(10)
        cluster.send_signal(signal.SIGINT)
        try:
            cluster.wait(15)
        finally:
            if cluster.poll() is None:
                cluster.kill()
    assert cluster.returncode == 0
