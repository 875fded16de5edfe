"""What a leading shell does with the Leader core's reports, shared by the fixed master and a failover leader.

Health changes, read-only changes and catch-up progress become one log line each: recoveries at INFO and
trouble at WARNING, so that `log_level: WARNING` shows only trouble. Release and Reject settle the future of
the waiting append.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from replog.core.outputs import CatchUp, HealthChanged, ReadOnlyChanged
from replog.types import HealthState

__all__ = ["Report", "log_report", "settle"]

Report = HealthChanged | ReadOnlyChanged | CatchUp


def log_report(log: logging.Logger, report: Report, peer_label: Callable[[int], str], nodes_total: int) -> None:
    match report:
        case HealthChanged(peer, old, new):
            level = logging.INFO if new is HealthState.HEALTHY else logging.WARNING
            log.log(level, "%s: %s -> %s", peer_label(peer), old.value, new.value)
        case ReadOnlyChanged(read_only, alive, needed):
            level = logging.WARNING if read_only else logging.INFO
            state = "ON (no quorum)" if read_only else "off (quorum back)"
            log.log(level, "read-only %s: %d of %d nodes alive, %d needed", state, alive, nodes_total, needed)
        case CatchUp(peer, lo, hi, done):
            if done:
                log.info("%s caught up to %d", peer_label(peer), hi)
            else:
                log.info("%s catching up: streaming %d entries (%d..%d)", peer_label(peer), hi - lo + 1, lo, hi)


def settle(futures: dict[int, asyncio.Future[int]], token: int, result: int | BaseException) -> None:
    """Resolve the append waiting on `token` (if its client still waits) with an index or an error."""
    future = futures.pop(token, None)
    if future is None or future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
