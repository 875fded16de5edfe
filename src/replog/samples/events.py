"""The Leader core's reports as chart events: the same moments the leader logs (node/leader_reports.py)."""

from __future__ import annotations

from collections.abc import Callable

from replog.core.outputs import CatchUp, HealthChanged, ReadOnlyChanged
from replog.samples.ring import Event

__all__ = ["event_of"]


def event_of(
    report: HealthChanged | ReadOnlyChanged | CatchUp, t: float, seen_by: str, peer_name: Callable[[int], str]
) -> Event | None:
    """The event to mark for a report, or None (catch-up progress is not marked: lag shows it)."""
    match report:
        case HealthChanged(peer, _old, new):
            name = peer_name(peer)
            return Event(t, "health", f"{name} {new.value}", name, seen_by=seen_by)
        case ReadOnlyChanged(read_only, alive, needed):
            text = f"read-only on ({alive} alive, {needed} needed)" if read_only else "read-only off"
            return Event(t, "read_only", text, seen_by, seen_by=seen_by)
    return None
