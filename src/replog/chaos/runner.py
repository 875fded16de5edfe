"""One chaos run: a real cluster behind fault proxies, clients, a reader, the fault schedule, the checker.

The order at the end matters: stop the clients from starting new appends, heal every fault, let the
appends still in flight finish, wait (bounded) until every node shows the same log, and only then
take the final logs. Whatever happens, every process we started is stopped by its PID.

Failover mode (`failover=True`): every node runs with `failover: true` and reaches every other node
through a proxy of its own (one per directed link, so a cut can be one-way); each node reads a config
file whose entries for its peers are those proxies, in node-id order, and whose own entry is its real
address. Clients know every node's real address. Convergence then also needs one leader that every node
follows, and the end of the run also collects every node's rollback files.

Hosts mode (`net="hosts"`): the compose file's nodes, each on its own network namespace host (see
replog.hosts), started with the file's command lines and environment (plus the fast timeouts above,
as REPLOG_* variables); partitions are nftables rules between the hosts instead of proxies, and this
process's own traffic (clients, reader, probes) leaves from the client host.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from replog.chaos.checker import Violation, check
from replog.chaos.clients import Client, ClientSettings, Reader, read_log
from replog.chaos.convergence import LeaderWatcher, read_final, read_rollbacks, wait_converged, wait_one_leader
from replog.chaos.history import FinalRecord, HistoryWriter, load_history
from replog.chaos.injector import FaultInjector
from replog.chaos.network_faults import HostFaults, ProxyFaults
from replog.chaos.proxy import FaultProxy
from replog.chaos.report import summarize
from replog.chaos.schedule import link_name, make_failover_schedule, make_hosts_schedule, make_schedule
from replog.chaos.stream_client import StreamClient
from replog.hosts.cluster import COMPOSE_FILE, HostCluster
from replog.hosts.network import unavailable_reason
from replog.processes import NodeProcesses, replog_command

__all__ = ["FAILOVER_SETTINGS", "FAST_SETTINGS", "ChaosOptions", "ChaosResult", "run_chaos"]

HOST = "127.0.0.1"
SECONDARIES = 2
FAST_SETTINGS: dict[str, Any] = {
    "heartbeat_seconds": 0.2,
    "suspect_after_seconds": 0.6,
    "unhealthy_after_seconds": 1.2,
    "connection_timeout": 1.0,
    "backoff_base_seconds": 0.05,
    "backoff_max_seconds": 0.4,
    "storage": "disk",
    "log_level": "INFO",
    "failover": False,  # The fixed master's chaos run: a master behind proxies to its secondaries.
}
# With failover on: election_timeout_seconds 0.5 for speed (the e2e failover tests use the same).
FAILOVER_SETTINGS: dict[str, Any] = {"failover": True, "election_timeout_seconds": 0.5}
# On the hosts, over the compose file's own environment (which already says failover: true).
HOSTS_SETTINGS: dict[str, Any] = {
    name: value for name, value in {**FAST_SETTINGS, **FAILOVER_SETTINGS}.items() if name != "failover"
}
NAMES = ("master", *(f"secondary-{i}" for i in range(SECONDARIES)))
START_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 30.0
CONVERGE_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    duration: float = 60.0
    seed: int = 1
    clients: int = 4
    data_dir: Path | None = None  # a fresh temporary directory when None
    failover: bool = False  # every node runs failover: true; faults also aim at the leader
    net: str = "proxy"  # "proxy": loopback behind fault proxies; "hosts": namespace hosts cut by nftables
    compose_file: Path = COMPOSE_FILE  # hosts mode: where the nodes' commands and environment come from


@dataclass(frozen=True, slots=True)
class ChaosResult:
    summary: dict[str, Any]
    violations: list[Violation]
    history_path: Path
    workdir: Path


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where everything of one run lives: ports, config files, directories."""

    workdir: Path
    ports: dict[str, int]  # every node's real port, by name
    proxies: dict[str, tuple[int, int]]  # proxy name -> (listen port, target port)
    configs: dict[str, Path]  # every node's config file, by name
    failover: bool
    hosts: HostCluster | None = None  # hosts mode: the nodes on their namespace hosts

    @property
    def urls(self) -> dict[str, str]:
        """Every node's own address: reads and /faults never go through a proxy."""
        if self.hosts is not None:
            return self.hosts.urls
        return {name: f"http://{HOST}:{port}" for name, port in self.ports.items()}

    def node_dir(self, name: str) -> Path:
        if self.hosts is not None:
            return self.hosts.data_dir(name) / name
        return self.workdir / "data" / name


def run_chaos(options: ChaosOptions) -> ChaosResult:
    """Run, check, summarize. Raises RuntimeError when the cluster cannot even start.

    Ctrl-C or SIGTERM end the run at once (KeyboardInterrupt or CancelledError out of here), and every
    process it started is still stopped.
    """
    if options.net == "hosts":
        return _run_on_hosts(options)
    layout = _prepare(options)
    processes = NodeProcesses(layout.workdir, {n: replog_command(n, c) for n, c in layout.configs.items()})
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(_run(options, layout, processes))
    finally:
        processes.stop_all()


def _run_on_hosts(options: ChaosOptions) -> ChaosResult:
    """The run on namespace hosts; this thread is the client host for its whole length."""
    if not options.failover:
        raise RuntimeError("--net hosts runs the compose file's failover cluster; drop --no-failover")
    if reason := unavailable_reason():
        raise RuntimeError(f"--net hosts cannot run here: {reason}")
    workdir = _workdir(options, "volumes")
    overrides = {f"REPLOG_{name.upper()}": _env_value(value) for name, value in HOSTS_SETTINGS.items()}
    cluster = HostCluster.from_compose(workdir, overrides, compose_file=options.compose_file)
    layout = _Layout(workdir, ports={}, proxies={}, configs={}, failover=True, hosts=cluster)
    with cluster, cluster.network.inside(), asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_run(options, layout, cluster.processes))


def _env_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _workdir(options: ChaosOptions, data: str) -> Path:
    if options.data_dir is None:
        return Path(tempfile.mkdtemp(prefix="replog-chaos-"))
    workdir = options.data_dir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if (workdir / data).exists() and any((workdir / data).iterdir()):
        raise RuntimeError(f"{workdir / data} already holds node data: give an empty --data-dir")
    return workdir


def _prepare(options: ChaosOptions) -> _Layout:
    workdir = _workdir(options, "data")
    if options.failover:
        return _prepare_failover(workdir)
    master_port, *ports = _free_ports(1 + 2 * SECONDARIES)
    secondary_ports, proxy_ports = tuple(ports[:SECONDARIES]), tuple(ports[SECONDARIES:])
    common = {**FAST_SETTINGS, "master": f"{HOST}:{master_port}", "data_dir": str(workdir / "data")}
    master_config = workdir / "master.yaml"
    secondary_config = workdir / "secondaries.yaml"
    # The master dials the proxies; each secondary listens on its real port (its own entry).
    master_config.write_text(yaml.safe_dump({**common, "secondaries": [f"{HOST}:{p}" for p in proxy_ports]}))
    secondary_config.write_text(yaml.safe_dump({**common, "secondaries": [f"{HOST}:{p}" for p in secondary_ports]}))
    return _Layout(
        workdir,
        ports={"master": master_port, **{f"secondary-{i}": p for i, p in enumerate(secondary_ports)}},
        proxies={f"proxy-{i}": (p, t) for i, (p, t) in enumerate(zip(proxy_ports, secondary_ports, strict=True))},
        configs={"master": master_config, **{f"secondary-{i}": secondary_config for i in range(SECONDARIES)}},
        failover=False,
    )


def _prepare_failover(workdir: Path) -> _Layout:
    """One proxy per directed link; each node's config names its peers by the proxies it dials them on."""
    links = [(a, b) for a in NAMES for b in NAMES if a != b]
    free = _free_ports(len(NAMES) + len(links))
    ports = dict(zip(NAMES, free, strict=False))
    proxies = {link_name(a, b): (port, ports[b]) for (a, b), port in zip(links, free[len(NAMES) :], strict=True)}
    configs = {}
    for name in NAMES:
        # Own entry: the real address it listens on; a peer's entry: the proxy on the link to that peer.
        address = {
            peer: f"{HOST}:{ports[peer] if peer == name else proxies[link_name(name, peer)][0]}" for peer in NAMES
        }
        config = {
            **FAST_SETTINGS,
            **FAILOVER_SETTINGS,
            "master": address[NAMES[0]],
            "secondaries": [address[peer] for peer in NAMES[1:]],
            "data_dir": str(workdir / "data"),
        }
        configs[name] = workdir / f"{name}.yaml"
        configs[name].write_text(yaml.safe_dump(config))
    return _Layout(workdir, ports, proxies, configs, failover=True)


async def _run(options: ChaosOptions, layout: _Layout, processes: NodeProcesses) -> ChaosResult:
    proxies = {
        name: FaultProxy(name, target, host=HOST, listen_port=port) for name, (port, target) in layout.proxies.items()
    }
    history_path = layout.workdir / "history.jsonl"
    writer = HistoryWriter(history_path)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    with contextlib.suppress(NotImplementedError, ValueError, RuntimeError):  # not the main thread: no handler
        loop.add_signal_handler(signal.SIGTERM, main.cancel if main else lambda: None)
    try:
        for proxy in proxies.values():
            await proxy.start()
        for name in layout.urls:
            processes.start(name)
        if layout.failover:
            if await wait_one_leader(layout.urls, START_TIMEOUT_S, healthy_peers=True) is None:
                raise RuntimeError(f"the cluster did not elect a leader with every peer Healthy in {START_TIMEOUT_S}s")
        else:
            await _wait_healthy(layout.urls["master"], START_TIMEOUT_S)
        started = time.monotonic()
        await _workload(options, layout, processes, proxies, writer, lambda: time.monotonic() - started)
        elapsed = time.monotonic() - started
    finally:
        with contextlib.suppress(NotImplementedError, ValueError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
        writer.close()
        for proxy in proxies.values():
            await proxy.close()
    history = load_history(history_path)
    violations = check(history)
    summary = summarize(history, violations, elapsed_s=elapsed)
    summary.update(history=str(history_path), workdir=str(layout.workdir))
    return ChaosResult(summary, violations, history_path, layout.workdir)


async def _workload(
    options: ChaosOptions,
    layout: _Layout,
    processes: NodeProcesses,
    proxies: dict[str, FaultProxy],
    writer: HistoryWriter,
    clock: Callable[[], float],
) -> None:
    urls = layout.urls
    failover = layout.failover
    if layout.hosts is not None:
        schedule = make_hosts_schedule(options.seed, options.duration, tuple(urls))
    elif failover:
        schedule = make_failover_schedule(options.seed, options.duration, NAMES)
    else:
        schedule = make_schedule(options.seed, options.duration, SECONDARIES)
    writer.write_meta(
        seed=options.seed,
        duration=options.duration,
        clients=options.clients,
        stream_client=options.clients,  # the number of the client on /stream, beside the POST clients
        failover=failover,
        net="hosts" if layout.hosts is not None else "proxy",
        started=datetime.now(UTC).isoformat(),
        urls=urls,
        proxies={p.name: p.port for p in proxies.values()},
        **_hosts_meta(options, layout),
        schedule=[{"kind": e.kind, "target": e.target, "start": e.start, "end": e.end} for e in schedule],
    )
    rng = random.Random(options.seed)
    stop = asyncio.Event()
    client_urls = urls if failover else {"master": urls["master"]}
    settings = ClientSettings(failover=failover)
    clients = [
        Client(i, client_urls, random.Random(rng.random()), clock, writer.write, settings)
        for i in range(options.clients)
    ]
    reader = Reader(urls, random.Random(rng.random()), clock, writer.write, committed_ratio=0.5 if failover else 0.0)
    # Beside the POST clients, one client on /stream: its appends carry no request_id, so they go in as runs.
    streamer = StreamClient(options.clients, client_urls, random.Random(rng.random()), clock, writer.write)
    network = HostFaults(layout.hosts.network) if layout.hosts is not None else ProxyFaults(proxies, list(urls))
    injector = FaultInjector(processes, network, urls, clock, writer.write)
    client_tasks = [asyncio.create_task(c.run(stop), name=f"client-{c.number}") for c in [*clients, streamer]]
    reader_task = asyncio.create_task(reader.run(stop), name="reader")
    injector_task = asyncio.create_task(injector.run(schedule), name="injector")
    workload = [*client_tasks, reader_task]
    if failover:
        watcher = LeaderWatcher(urls, clock, writer.write)
        workload.append(asyncio.create_task(watcher.run(stop), name="leader-watcher"))
    try:
        done, _ = await asyncio.wait(workload, timeout=options.duration, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a workload task ended early: only by a bug of ours; raise it
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM) or broken: no healing, no waiting; the caller stops every node.
        for task in [*workload, injector_task]:
            task.cancel()
        await asyncio.gather(*workload, injector_task, return_exceptions=True)
        raise
    stop.set()
    injector_task.cancel()
    await asyncio.gather(injector_task, return_exceptions=True)
    try:
        await injector.heal_all()
    except (TimeoutError, OSError, RuntimeError) as exc:  # why: a node that never came back is evidence
        writer.write_meta(heal_error=f"{type(exc).__name__}: {exc}")
    _, pending = await asyncio.wait(workload, timeout=DRAIN_TIMEOUT_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*workload, return_exceptions=True)
    if failover:
        converged = await wait_converged(urls, CONVERGE_TIMEOUT_S)
        writer.write_meta(converged_after_s=round(clock() - options.duration, 1))
        for final in await read_final(urls, converged):
            writer.write(final)
        for record in read_rollbacks({name: layout.node_dir(name) for name in urls}):
            writer.write(record)
        return
    converged = await _wait_converged(urls, CONVERGE_TIMEOUT_S)
    async with aiohttp.ClientSession() as session:
        for name, url in urls.items():
            log = await read_log(session, url, timeout_s=10.0)
            writer.write(FinalRecord(name, tuple(log or ()), converged=converged, readable=log is not None))


def _hosts_meta(options: ChaosOptions, layout: _Layout) -> dict[str, Any]:
    if layout.hosts is None:
        return {}
    return {
        "compose_file": str(options.compose_file),
        "addresses": dict(layout.hosts.network.addresses),
        "overrides": layout.hosts.overrides,
    }


async def _wait_healthy(master_url: str, timeout_s: float) -> None:
    """Until the master answers and calls every secondary Healthy."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, ValueError):
                async with session.get(f"{master_url}/health") as response:
                    health = await response.json()
                    if all(s["status"] == "Healthy" for s in health["secondaries"]):
                        return
            await asyncio.sleep(0.1)  # why: polling a starting cluster
    raise RuntimeError(f"the cluster did not become healthy within {timeout_s}s")


async def _wait_converged(urls: dict[str, str], timeout_s: float) -> bool:
    """Until every node shows the same log; False if that did not happen in time."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            logs = [await read_log(session, url, timeout_s=5.0) for url in urls.values()]
            if all(log is not None and log == logs[0] for log in logs):
                return True
            await asyncio.sleep(0.2)  # why: catch-up after healing takes a moment
    return False


def _free_ports(count: int) -> list[int]:
    """Distinct free ports: all sockets are held open until every port is chosen."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
