"""Start a node, in an order that fails early and cleanly, and serve until SIGINT/SIGTERM.

Lock the data directory (nothing is read before), open the store, bind the port, and only then start
the node's links and serve: a second node on the same directory or port is refused with one line
before it has touched the log or called a peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web

from replog.config import Config
from replog.errors import StartupError
from replog.net import tls
from replog.net.sockets import tune
from replog.node.master import MasterNode
from replog.node.replica import ReplicaNode
from replog.node.secondary import SecondaryNode
from replog.storage.base import LogStore
from replog.storage.lock import DataDirLock
from replog.storage.memory import MemoryLog
from replog.web.bad_heads import quiet_bad_request_heads

__all__ = ["node_data_dir", "open_store", "run_master", "run_secondary", "setup_logging"]

log = logging.getLogger("replog")


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    quiet_bad_request_heads()


def node_data_dir(config: Config, node_name: str) -> Path:
    return Path(config.data_dir) / node_name


def open_store(config: Config, node_name: str, *, is_master: bool) -> LogStore:
    if config.storage == "memory":
        return MemoryLog.fresh() if is_master else MemoryLog()
    from replog.storage.segment import SegmentLog

    store = SegmentLog.open(node_data_dir(config, node_name), fsync=config.fsync)
    if is_master and not store.log_id:
        store.set_log_id(MemoryLog.fresh().log_id)
    return store


def _use_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


@contextlib.contextmanager
def _data_dir_locked(config: Config, node_name: str) -> Iterator[None]:
    """Hold the node's data directory for the whole run; a second process is refused before it reads."""
    if config.storage != "disk":
        yield
        return
    lock = DataDirLock.acquire(node_data_dir(config, node_name))
    try:
        yield
    finally:
        lock.release()


def _listen(host: str, port: int, config: Config) -> socket.socket:
    """Bind the node's port before anything else starts, so a busy port is one clear line, not a half start.
    Accepted connections inherit the listener's TCP options (net/sockets.py)."""
    try:
        family, *_, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
            0
        ]
        return tune(socket.create_server(address[:2], family=family, backlog=1024), config)
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"port {port} on {host} is in use (another replog node?)") from None
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


async def _serve(app: web.Application, listener: socket.socket, config: Config) -> web.AppRunner:
    # aiohttp's keep-alive timer also runs from the moment a connection opens, so it bounds how
    # long a client may take to send a complete request head: a trickling client is cut off. After
    # an answer that left a body unread, aiohttp lingers to drain it; keep that short too.
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=2.0,
        keepalive_timeout=config.header_timeout_seconds,
        lingering_time=min(config.header_timeout_seconds, 2.0),
    )
    await runner.setup()
    await web.SockSite(runner, listener, ssl_context=tls.server_context(config)).start()
    return runner


async def _until_signalled(fatal: asyncio.Future[str] | None = None) -> None:
    """Until SIGINT/SIGTERM; or until `fatal` (a node that must not go on) says why, raised as StartupError."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waits = [asyncio.ensure_future(stop.wait())] + ([fatal] if fatal is not None else [])
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    waits[0].cancel()
    if fatal is not None and fatal.done():
        raise StartupError(fatal.result())
    log.info("stopping")


async def _run_node(
    node: MasterNode | SecondaryNode | ReplicaNode, app: web.Application, listener: socket.socket
) -> None:
    """Start the node (its links may call peers at once), then answer on the already bound port."""
    await node.start()
    try:
        runner = await _serve(app, listener, node.config)
    except BaseException:
        await node.stop()
        raise
    try:
        await _until_signalled(getattr(node, "fatal", None))
    finally:
        await runner.cleanup()
        await node.stop()


async def _replica_main(config: Config, node_id: int) -> None:
    """A node with failover on: the same shell whatever its configured name."""
    from replog.node.names import node_name
    from replog.node.replica import ReplicaNode
    from replog.web.replica_api import replica_app

    name = node_name(node_id)
    host, port = config.nodes[node_id].rsplit(":", 1)
    store = open_store(config, name, is_master=False)
    try:
        listener = _listen(config.bind_host or host, int(port), config)
    except StartupError:
        store.close()
        raise
    log.info("%s listening on %s%s", name, config.url_of(config.nodes[node_id]), _tls_note(config))
    node_dir = node_data_dir(config, name) if config.storage == "disk" else None
    node = ReplicaNode(config, node_id, store, node_dir=node_dir)
    await _run_node(node, replica_app(node), listener)


async def _master_main(config: Config) -> None:
    from replog.web.api import master_app

    store = open_store(config, "master", is_master=True)
    try:
        listener = _listen(config.bind_host or config.master_host, config.master_port, config)
    except StartupError:
        store.close()
        raise
    log.info("master listening on %s%s", config.url_of(config.master), _tls_note(config))
    node = MasterNode(config, store)
    await _run_node(node, master_app(node), listener)


async def _secondary_main(config: Config, secondary_id: int) -> None:
    from replog.web.api import secondary_app

    host, port = config.secondary_address(secondary_id)
    store = open_store(config, f"secondary-{secondary_id}", is_master=False)
    try:
        listener = _listen(config.bind_host or host, port, config)
    except StartupError:
        store.close()
        raise
    log.info("secondary %d listening on %s%s", secondary_id, config.url_of(f"{host}:{port}"), _tls_note(config))
    node = SecondaryNode(config, secondary_id, store)
    await _run_node(node, secondary_app(node), listener)


def _tls_note(config: Config) -> str:
    if not config.tls:
        return " (plain HTTP: tokens and data cross the network in the clear)"
    return " (TLS, client certificates required)" if config.tls_client_auth else " (TLS)"


def run_master(config: Config) -> None:
    setup_logging(config.log_level)
    tls.check(config)  # A missing or mismatched TLS file is one line before anything starts.
    _use_uvloop()
    with _data_dir_locked(config, "master"):
        asyncio.run(_replica_main(config, 0) if config.failover else _master_main(config))


def run_secondary(config: Config, secondary_id: int, *, reset: bool = False) -> None:
    """Run secondary `secondary_id`; `reset` wipes its log first (under the lock, so never a live node's)."""
    setup_logging(config.log_level)
    config.secondary_address(secondary_id)  # Fails fast, naming the setting, before anything starts.
    tls.check(config)
    _use_uvloop()
    with _data_dir_locked(config, f"secondary-{secondary_id}"):
        if reset:
            _wipe(config, f"secondary-{secondary_id}")
        main = _replica_main(config, secondary_id + 1) if config.failover else _secondary_main(config, secondary_id)
        asyncio.run(main)


def _wipe(config: Config, node_name: str) -> None:
    """`replog secondary --reset`: forget this node's log on purpose, so it follows anew."""
    if config.storage != "disk":
        return
    from replog.storage.segment import SegmentLog

    directory = node_data_dir(config, node_name)
    SegmentLog.wipe(directory)
    log.warning("wiped %s on request (--reset)", directory)
