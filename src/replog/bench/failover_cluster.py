"""A 3-node failover cluster for `replog bench --failover` and `--steady`: start, kill -9, restart, observe.

Every node is a `python -m replog` child on a 127.0.0.1 port of its own, with `failover: true` and
otherwise the settings given (the bench passes none: the defaults are what is measured). The cluster is
observed only through each node's `/health` and `/?detail=1`, as an operator would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from replog.bench.systems import Children, free_port

__all__ = ["NAMES", "FailoverCluster", "poll_until"]

NAMES = ("master", "secondary-0", "secondary-1")
# One /health answer must come quickly: a node that does not answer within this is treated as down.
HEALTH_TIMEOUT_S = 1.0
POLL_S = 0.02
# A follower under load is never exactly level at the moment of a /health; this many entries behind is level.
LEVEL_LAG = 500


async def poll_until(predicate: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Poll an async predicate until it holds, or raise TimeoutError naming what was awaited."""
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(POLL_S)  # why: nodes have no event to wait on; poll with a deadline


class FailoverCluster:
    """Master + 2 secondaries with failover on; each node started, killed and restarted by its PID."""

    def __init__(self, directory: Path, **settings: object) -> None:
        self.directory = directory
        self.children = Children(directory)
        self.ports = {name: free_port() for name in NAMES}
        config = {
            "master": f"127.0.0.1:{self.ports['master']}",
            "secondaries": [f"127.0.0.1:{self.ports[name]}" for name in NAMES[1:]],
            "data_dir": str(directory / "data"),
            "log_level": "WARNING",
            "failover": True,
            **settings,
        }
        self.config_file = directory / "config.yaml"
        self.config_file.write_text(yaml.safe_dump(config))
        self._session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------- processes

    def start(self, name: str) -> None:
        role = ["master"] if name == "master" else ["secondary", "--id", name.rsplit("-", 1)[1]]
        self.children.start(name, [sys.executable, "-m", "replog", *role, "--config", str(self.config_file)])

    def kill(self, name: str) -> None:
        """kill -9 and reap: once this returns, the node can send nothing more."""
        process = self.children.processes[name]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def running(self, name: str) -> bool:
        process = self.children.processes.get(name)
        return process is not None and process.poll() is None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self.children.stop_all()

    # ------------------------------------------------------------------ HTTP

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def urls(self) -> list[str]:
        return [self.url(name) for name in NAMES]

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Idle connections close well before a node's own keep-alive limit, and a killed node is noticed fast.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=HEALTH_TIMEOUT_S),
                connector=aiohttp.TCPConnector(keepalive_timeout=2),
            )
        return self._session

    async def health(self, name: str) -> dict[str, Any] | None:
        """The node's /health, or None if it does not answer (down, starting, or too slow)."""
        try:
            async with self._http().get(self.url(name) + "/health") as response:
                return dict(await response.json()) if response.status == 200 else None
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return None

    async def healths(self) -> dict[str, dict[str, Any] | None]:
        answers = await asyncio.gather(*(self.health(name) for name in NAMES))
        return dict(zip(NAMES, answers, strict=True))

    async def leader(self, among: tuple[str, ...] = NAMES) -> tuple[str, int] | None:
        """(name, term) of the node in `among` that says it leads, if exactly one does."""
        views = await asyncio.gather(*(self.health(name) for name in among))
        leaders = [(v["name"], int(v["term"])) for v in views if v is not None and v.get("role") == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    async def stable(self, want_leader: str | None = None) -> str | None:
        """The leader's name once every node is up, follows it, and is level with it; else None."""
        views = await self.healths()
        if any(view is None for view in views.values()):
            return None
        leaders = {((view or {}).get("leader") or {}).get("name") for view in views.values()}
        if len(leaders) != 1:
            return None
        (name,) = leaders
        if not name or (want_leader is not None and name != want_leader):
            return None
        head = views[name] or {}
        if head.get("role") != "leader" or head.get("read_only"):
            return None
        peers = head.get("peers") or []
        if len(peers) != len(NAMES) - 1 or any(p["status"] != "Healthy" or p["lag"] > LEVEL_LAG for p in peers):
            return None
        return str(name)

    async def log(self, name: str, timeout_s: float = 120) -> list[dict[str, Any]]:
        """The node's whole log, {"index", "msg"} per entry (streamed by the node in chunks)."""
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with self._http().get(self.url(name) + "/?detail=1", timeout=timeout) as response:
            response.raise_for_status()
            return list(await response.json())

    async def metric(self, name: str, metric: str) -> float | None:
        """One gauge from the node's /metrics, or None if the node does not answer."""
        try:
            async with self._http().get(self.url(name) + "/metrics") as response:
                text = await response.text()
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None
        for line in text.splitlines():
            if line.startswith(metric + " ") or line.startswith(metric + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    def rolled_back_on_disk(self) -> int:
        """Entries every node ever dropped into rollback files (one JSON line each); survives restarts."""
        total = 0
        for folder in (self.directory / "data").glob("*/rollback"):
            for file in folder.iterdir():
                total += sum(1 for line in file.read_text(errors="replace").splitlines() if line.strip())
        return total
