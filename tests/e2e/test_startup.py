"""Starting a node: one node per data directory, one line for a busy port, one master per secondary.

Each case is what a new user tripped over: a second process on a running node's data directory or port,
a `replog cluster` whose node cannot start, and a second master dialling secondaries that follow a live one.
"""

from __future__ import annotations

import hashlib
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, free_port, until

pytestmark = pytest.mark.e2e

REPLOG = [sys.executable, "-m", "replog"]


def _run(args: list[str], timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REPLOG, *args], capture_output=True, text=True, timeout=timeout_s)


def _digest(directory: Path) -> dict[str, str]:
    """Every file under a node's directory (the lock file aside, which holds a pid), by content."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != "LOCK"
    }


@pytest.mark.parametrize("node", ["master", "secondary-0"])
async def test_a_second_process_on_a_data_directory_is_refused_and_changes_nothing(cluster: Cluster, node: str) -> None:
    for i in range(3):
        assert (await cluster.append(f"m{i}", w=3))[0] == 201
    await cluster.wait_converged(["secondary-0", "secondary-1"])
    directory = cluster.directory / "data" / node
    before = _digest(directory)
    # Another port, so only the directory is shared; --reset would wipe the log if it got that far.
    args = (
        ["master", "--master", f"127.0.0.1:{free_port()}"]
        if node == "master"
        else ["secondary", "--id", "0", "--reset", "--bind-host", "127.0.0.2"]
    )
    run = _run([*args, "--config", str(cluster.config_file)])
    holder = cluster.processes[node].pid
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == (
        f"replog: data directory {directory} is in use by another replog node (pid {holder}); "
        "stop that node first, or give this one its own data_dir"
    )
    assert "Traceback" not in run.stderr + run.stdout
    assert _digest(directory) == before
    # The running node never noticed: it still takes and serves writes.
    assert (await cluster.append("after", w=3))[0] == 201
    assert await cluster.messages(node) == ["m0", "m1", "m2", "after"]


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    """kill -9 leaves the lock file behind, but not the lock: a restart is never blocked by it."""
    port = free_port()
    args = ["master", "--master", f"127.0.0.1:{port}", "--data-dir", str(tmp_path), "--secondaries", "127.0.0.1:1"]
    node = subprocess.Popen([*REPLOG, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port)
        assert (tmp_path / "master" / "LOCK").read_text().strip() == str(node.pid)
    finally:
        node.kill()
        node.wait(10)
    restarted = subprocess.Popen([*REPLOG, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port)
        assert (tmp_path / "master" / "LOCK").read_text().strip() == str(restarted.pid)
    finally:
        restarted.terminate()
        restarted.wait(10)


def test_a_busy_port_is_one_line_and_no_peer_is_called(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        flags = ["--master", f"127.0.0.1:{port}", "--secondaries", f"127.0.0.1:{free_port()}"]
        run = _run(["master", *flags, "--data-dir", str(tmp_path), "--log-level", "INFO"])
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == f"replog: port {port} on 127.0.0.1 is in use (another replog node?)"
    assert "Traceback" not in run.stderr and "Unclosed" not in run.stderr
    assert "link 0" not in run.stderr, "the node dialled its peers before finding its port taken"


async def test_a_second_master_does_not_displace_a_live_one(cluster: Cluster, tmp_path: Path) -> None:
    intruder_port = free_port()
    flags = ["--master", f"127.0.0.1:{intruder_port}", "--data-dir", str(tmp_path / "intruder")]
    intruder = subprocess.Popen(
        [*REPLOG, "master", "--config", str(cluster.config_file), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        session = await cluster.http()

        async def intruder_refused_by_both() -> bool:
            async with session.get(f"http://127.0.0.1:{intruder_port}/health") as response:
                secondaries = (await response.json())["secondaries"]
            return all("409" in s["last_error"] for s in secondaries)

        await until(intruder_refused_by_both, 20, "both secondaries to refuse the second master")
        for name in ("secondary-0", "secondary-1"):
            assert "kept the live master connection from 127.0.0.1" in cluster.log_text(name)
        # The real master's links never dropped: one connection each since it started.
        async with session.get(cluster.url("master") + "/metrics") as response:
            metrics = await response.text()
        assert re.findall(r'^replog_link_reconnects_total\{secondary="\d"\} (\S+)$', metrics, re.M) == ["1.0", "1.0"]
        assert (await cluster.append("still mine", w=3))[0] == 201
    finally:
        intruder.terminate()
        intruder.wait(10)


async def test_a_malformed_request_head_is_one_warning_line(cluster: Cluster) -> None:
    with socket.create_connection(("127.0.0.1", cluster.master_port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
        assert raw.recv(64).startswith(b"HTTP/1.0 400")

    async def logged() -> bool:
        return "bad request from" in cluster.log_text("master")

    await until(logged, 5, "the master to log the bad request")
    text = cluster.log_text("master")
    assert "WARNING aiohttp.server: bad request from 127.0.0.1: 400 Invalid header token: b'Bad Header'" in text
    assert "Traceback" not in text and "ERROR" not in text


def test_recoveries_are_info_and_trouble_is_a_warning(cluster: Cluster) -> None:
    """With `log_level: WARNING` an operator sees only trouble."""
    text = cluster.log_text("master")
    assert "INFO    replog.master: secondary 0: Unhealthy -> Healthy" in text
    assert "INFO    replog.master: read-only off (quorum back)" in text
    assert "WARNING replog.master: read-only ON" not in text


def _wait_listening(port: int, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listened on {port} within {timeout_s}s")
