"""Paging and polling rules shared by both clients' `iter_messages` and `tail`."""

from __future__ import annotations

from typing import Any

from replog.client.results import SecondaryHealth, parse_health

__all__ = ["PAGE_SIZE", "POLL_MIN_S", "check_paging", "last_index", "next_poll_delay"]

PAGE_SIZE = 1000
PAGE_SIZE_MAX = 10_000  # the server's largest `limit`
# After news, poll again this soon: messages tend to come in runs.
POLL_MIN_S = 0.05


def check_paging(page_size: int, poll_interval: float = 1.0) -> None:
    """Refuse values that would make a reader spin: an empty page would never end `iter_messages`."""
    if not 1 <= page_size <= PAGE_SIZE_MAX:
        raise ValueError(f"page_size must be in 1..{PAGE_SIZE_MAX}, got {page_size}")
    if not poll_interval > 0:
        raise ValueError(f"poll_interval must be positive, got {poll_interval}")


def next_poll_delay(previous: float, got_messages: bool, ceiling: float) -> float:
    """Poll fast while messages flow, then back off by doubling to `ceiling` while the log is quiet.

    This keeps the latency of a busy tail low without hammering an idle node.
    """
    if got_messages:
        return min(POLL_MIN_S, ceiling)
    return min(ceiling, max(previous, POLL_MIN_S) * 2)


def last_index(health_json: Any) -> int:
    """The newest index a node serves: its durable prefix (`contiguous_index` on a fixed master's secondary,
    `last_index` on the fixed master and on every node with failover)."""
    health = parse_health(health_json)
    return health.contiguous_index if isinstance(health, SecondaryHealth) else health.last_index
