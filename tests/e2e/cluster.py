"""Real replog processes on 127.0.0.1 for end-to-end tests.

Each node is a `python -m replog ...` child process with its own log file, on a free port,
configured through a YAML file of the test's own. Nodes are stopped by the PIDs we started.
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from replog.bench.systems import free_port
from replog.chaos.runner import FAST_SETTINGS as CHAOS_SETTINGS

__all__ = ["Cluster", "free_port", "until"]

# The chaos run's fast health settings, at INFO so the tests can read the events in the logs. The fixed
# master unless a test asks for failover (test_failover.py and a few others do).
FAST_SETTINGS: dict[str, Any] = {**CHAOS_SETTINGS, "log_level": "INFO", "failover": False}


async def until(predicate: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Poll an async predicate until it holds, or fail naming what was awaited."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if await predicate():
                return
        except (aiohttp.ClientError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.05)


class Cluster:
    def __init__(self, directory: Path, secondaries: int = 2, **settings: Any) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.master_port = free_port()
        self.secondary_ports = [free_port() for _ in range(secondaries)]
        config = {
            **FAST_SETTINGS,
            "master": f"127.0.0.1:{self.master_port}",
            "secondaries": [f"127.0.0.1:{port}" for port in self.secondary_ports],
            "data_dir": str(directory / "data"),
            **settings,
        }
        self.config_file = directory / "config.yaml"
        self.config_file.write_text(yaml.safe_dump(config))
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.session: aiohttp.ClientSession | None = None
        # With TLS the tests' own requests use https and verify against the CA a test gives here.
        self.scheme = "https" if config.get("tls_cert_file") else "http"
        self.client_ssl: ssl.SSLContext | bool = True

    # ------------------------------------------------------------- processes

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        existing = self.processes.get(name)
        if existing is not None and existing.poll() is None:
            raise AssertionError(f"{name} is already running")
        log_file = open(self.directory / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "replog", *args, "--config", str(self.config_file)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        log_file.close()

    def start_master(self, env: dict[str, str] | None = None) -> None:
        self._spawn("master", ["master"], env)

    def start_secondary(self, index: int, *extra: str, env: dict[str, str] | None = None) -> None:
        self._spawn(f"secondary-{index}", ["secondary", "--id", str(index), *extra], env)

    async def start_all(self) -> None:
        """The master and both secondaries, each answering /health."""
        self.start_master()
        self.start_secondary(0)
        self.start_secondary(1)
        await self.wait_up("master", "secondary-0", "secondary-1")

    def signal(self, name: str, sig: signal.Signals) -> None:
        process = self.processes[name]
        if process.poll() is None:
            os.kill(process.pid, sig)

    def kill(self, name: str) -> None:
        """kill -9 and reap."""
        self.signal(name, signal.SIGKILL)
        self.processes[name].wait(10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_text(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")

    # ------------------------------------------------------------------ HTTP

    def url(self, name: str) -> str:
        if name == "master":
            return f"{self.scheme}://127.0.0.1:{self.master_port}"
        return f"{self.scheme}://127.0.0.1:{self.secondary_ports[int(name.rsplit('-', 1)[1])]}"

    async def http(self) -> aiohttp.ClientSession:
        if self.session is None:
            # Idle connections are closed before the nodes' own keep-alive limit (header_timeout_seconds).
            self.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=30),
                connector=aiohttp.TCPConnector(keepalive_timeout=2, ssl=self.client_ssl),
            )
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def append(self, msg: str, w: int = 1, **extra: Any) -> tuple[int, dict[str, Any]]:
        session = await self.http()
        async with session.post(self.url("master") + "/", json={"msg": msg, "w": w, **extra}) as response:
            return response.status, await response.json()

    async def post_raw(self, name: str, body: bytes, path: str = "/", **kwargs: Any) -> tuple[int, Any]:
        session = await self.http()
        async with session.post(self.url(name) + path, data=body, **kwargs) as response:
            return response.status, await response.json(content_type=None)

    async def messages(self, name: str) -> list[str]:
        session = await self.http()
        async with session.get(self.url(name) + "/") as response:
            assert response.status == 200
            return list(await response.json())

    async def health(self, name: str = "master") -> dict[str, Any]:
        session = await self.http()
        async with session.get(self.url(name) + "/health") as response:
            return dict(await response.json())

    async def set_faults(self, name: str, **faults: Any) -> dict[str, Any]:
        session = await self.http()
        async with session.post(self.url(name) + "/faults", json=faults) as response:
            assert response.status == 200, await response.text()
            return dict(await response.json())

    async def wait_up(self, *names: str, timeout_s: float = 15) -> None:
        for name in names:

            async def answers(name: str = name) -> bool:
                return bool(await self.health(name))

            await until(answers, timeout_s, f"{name} to answer /health")

    async def wait_status(self, secondary: int, status: str, timeout_s: float = 15) -> None:
        async def reached() -> bool:
            return bool((await self.health())["secondaries"][secondary]["status"] == status)

        await until(reached, timeout_s, f"secondary {secondary} to be {status}")

    async def wait_converged(self, names: list[str], timeout_s: float = 30) -> list[str]:
        """Wait until every named node shows the master's log; return it."""
        expected: list[str] = []

        async def same() -> bool:
            nonlocal expected
            expected = await self.messages("master")
            logs = [await self.messages(name) for name in names]
            return all(log == expected for log in logs)

        await until(same, timeout_s, f"{names} to converge with the master")
        return expected
