"""Start a node: open its store, build its shell and HTTP app, serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from aiohttp import web

from replog.config import Config
from replog.node.master import MasterNode
from replog.node.secondary import SecondaryNode
from replog.storage.base import LogStore
from replog.storage.memory import MemoryLog

__all__ = ["node_data_dir", "open_store", "run_master", "run_secondary", "setup_logging", "wipe_secondary"]

log = logging.getLogger("replog")


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


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


async def _serve(app: web.Application, host: str, port: int, header_timeout_s: float) -> web.AppRunner:
    # aiohttp's keep-alive timer also runs from the moment a connection opens, so it bounds how
    # long a client may take to send a complete request head: a trickling client is cut off. After
    # an answer that left a body unread, aiohttp lingers to drain it; keep that short too.
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=2.0,
        keepalive_timeout=header_timeout_s,
        lingering_time=min(header_timeout_s, 2.0),
    )
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    return runner


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")


async def _master_main(config: Config) -> None:
    from replog.web.api import master_app

    node = MasterNode(config, open_store(config, "master", is_master=True))
    await node.start()
    runner = await _serve(
        master_app(node), config.bind_host or config.master_host, config.master_port, config.header_timeout_seconds
    )
    log.info("master listening on %s", config.master)
    try:
        await _until_signalled()
    finally:
        await runner.cleanup()
        await node.stop()


async def _secondary_main(config: Config, secondary_id: int) -> None:
    from replog.web.api import secondary_app

    host, port = config.secondary_address(secondary_id)
    node = SecondaryNode(config, secondary_id, open_store(config, f"secondary-{secondary_id}", is_master=False))
    runner = await _serve(secondary_app(node), config.bind_host or host, port, config.header_timeout_seconds)
    await node.start()
    log.info("secondary %d listening on %s:%d", secondary_id, host, port)
    try:
        await _until_signalled()
    finally:
        await runner.cleanup()
        await node.stop()


def run_master(config: Config) -> None:
    setup_logging(config.log_level)
    _use_uvloop()
    asyncio.run(_master_main(config))


def run_secondary(config: Config, secondary_id: int) -> None:
    setup_logging(config.log_level)
    config.secondary_address(secondary_id)  # Fails fast, naming the setting, before anything starts.
    _use_uvloop()
    asyncio.run(_secondary_main(config, secondary_id))


def wipe_secondary(config: Config, secondary_id: int) -> None:
    """`replog secondary --reset`: forget this secondary's log on purpose, so it follows anew."""
    if config.storage != "disk":
        return
    from replog.storage.segment import SegmentLog

    directory = node_data_dir(config, f"secondary-{secondary_id}")
    SegmentLog.wipe(directory)
    logging.getLogger("replog").warning("wiped %s on request (--reset)", directory)
