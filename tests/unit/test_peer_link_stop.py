"""PeerLink.stop ends the link even when the cancel is lost.

Python 3.11's `asyncio.wait_for` returns the inner result, swallowing the cancel, when the cancel lands
as the inner future completes: a probe or a dial to a local port completes at once, so a link stopped at
that moment used to dial on forever, and `stop()` waited for it forever. Found by `replog chaos
--failover` (seed 8): a leader that handed leadership back never finished stepping down, so it won
later elections without ever building its Leading.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

from replog.net.peer_link import LinkCallbacks, PeerLink


def _link() -> PeerLink:
    callbacks = LinkCallbacks(lambda peer: None, lambda peer: None, lambda peer, message: None)
    return PeerLink(
        1,
        "127.0.0.1:9",
        session=None,  # type: ignore[arg-type]  # never dialled: _connect_and_serve is replaced
        callbacks=callbacks,
        connection_timeout_s=0.1,
        backoff_base_ms=1,
        backoff_max_ms=2,
        probe_interval_s=0.01,
        headers={},
        rng=random.Random(1),
    )


async def test_wait_for_can_swallow_a_cancel_on_this_python() -> None:
    """Why the link needs its own flag (on 3.12+ this race is gone, and the flag is merely redundant)."""
    loop = asyncio.get_running_loop()
    inner: asyncio.Future[None] = loop.create_future()
    went_on = asyncio.Event()

    async def waiter() -> None:
        await asyncio.wait_for(inner, 5)
        went_on.set()

    task = loop.create_task(waiter())
    await asyncio.sleep(0)
    inner.set_result(None)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() or went_on.is_set()


async def test_stop_returns_even_if_the_cancel_is_swallowed() -> None:
    link = _link()
    dials = 0

    async def swallowing_dial() -> bool:
        nonlocal dials
        dials += 1
        with contextlib.suppress(asyncio.CancelledError):  # 3.11's wait_for, cancel racing the dial's end
            await asyncio.sleep(0.005)
        return False

    async def no_probe() -> bool:
        return False

    link._connect_and_serve = swallowing_dial  # type: ignore[method-assign]
    link._probe = no_probe  # type: ignore[method-assign]
    link.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0
    while dials < 3 and loop.time() < deadline:
        await asyncio.sleep(0.005)  # why: poll, bounded, until the link is in its dial loop
    assert dials >= 3
    await asyncio.wait_for(link.stop(), 2.0)
    stopped_at = dials
    await asyncio.sleep(0.05)
    assert dials == stopped_at  # no dial after stop()
